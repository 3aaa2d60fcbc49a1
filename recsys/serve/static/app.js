// The page of `recsys serve`: search films, rate a few with stars, see recommendations
// (POST /recommend: the model folds the ratings in) and similar films (GET /similar).
// Plain JavaScript, no build step; everything it knows comes from the JSON API.
"use strict";

const state = {
  scale: [1, 5],        // the model's rating scale, from /health
  foldIn: true,         // whether the model folds in a new user
  similar: true,        // whether it lists similar items
  rated: new Map(),     // item id (string) -> {item, title, year, stars}
  recsTicket: 0,        // newest /recommend request; older answers are dropped
  similarTicket: 0,
  searchTicket: 0,
};

const $ = (id) => document.getElementById(id);

function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

async function api(path, options = {}) {
  const response = await fetch(path, options);
  let body = null;
  try { body = await response.json(); } catch (e) { /* not JSON */ }
  if (!response.ok) {
    const message = body && body.error ? body.error : `HTTP ${response.status}`;
    throw new Error(message);
  }
  return body;
}

// Stars 1-5 on the model's scale: MovieLens scales that reach 5 (0.5-5, 1-5) take the
// stars as they are; any other scale maps 1..5 onto low..high linearly.
function starsToRating(stars) {
  const [low, high] = state.scale;
  if (low <= 1 && high === 5) return stars;
  return low + (stars - 1) * (high - low) / 4;
}

function ratingToStars(rating) {
  const [low, high] = state.scale;
  if (low <= 1 && high === 5) return rating;
  return 1 + 4 * (rating - low) / (high - low);
}

function describe(film) {
  const parts = [];
  if (film.year) parts.push(film.year);
  if (film.genres) parts.push(film.genres.split("|").slice(0, 3).join(", "));
  if (film.ratings !== undefined) parts.push(`${film.ratings.toLocaleString()} ratings`);
  return parts.join(" · ");
}

function titleButton(film) {
  return el("button", {
    class: "title", type: "button", title: `Films like ${film.title}`, text: film.title,
    onclick: () => showSimilar(film),
  });
}

function starWidget(film) {
  const current = state.rated.get(String(film.item));
  const box = el("span", { class: "stars", role: "group", "aria-label": `Rate ${film.title}` });
  for (let s = 1; s <= 5; s++) {
    const on = current && current.stars >= s;
    box.append(el("button", {
      class: on ? "star on" : "star", type: "button", "aria-label": `${s} star${s > 1 ? "s" : ""}`,
      title: `${s} star${s > 1 ? "s" : ""}`, dataset: { stars: String(s) }, text: "★",
      onclick: () => rate(film, s),
    }));
  }
  return box;
}

function filmRow(film, extra) {
  return el("li", { dataset: { item: String(film.item) } }, [
    el("span", { class: "film" }, [titleButton(film), el("span", { class: "meta", text: describe(film) })]),
    extra,
  ]);
}

function note(id, text, bad = false) {
  const node = $(id);
  node.textContent = text || "";
  node.hidden = !text;
  node.classList.toggle("bad", bad);
}

// ------------------------------------------------------------------ search
async function search(text) {
  const ticket = ++state.searchTicket;
  try {
    const answer = await api(`/items?search=${encodeURIComponent(text)}&limit=12`);
    if (ticket !== state.searchTicket) return;
    renderResults(answer);
  } catch (error) {
    if (ticket === state.searchTicket) note("results-note", error.message, true);
  }
}

function renderResults(answer) {
  const list = $("results");
  list.replaceChildren(...answer.items.map((film) => filmRow(film, starWidget(film))));
  list.dataset.query = answer.query;
  if (!answer.query) note("results-note", "The most rated films; search for others.");
  else if (!answer.total) note("results-note", `No title contains “${answer.query}”.`);
  else if (answer.total > answer.items.length)
    note("results-note", `${answer.total.toLocaleString()} titles match; the most rated first.`);
  else note("results-note", "");
  state.results = answer.items;
}

function refreshStars() {
  if (state.results) renderResults({ query: $("results").dataset.query || "",
    total: state.results.length, items: state.results });
}

// ------------------------------------------------------------------ ratings
function rate(film, stars) {
  state.rated.set(String(film.item), { item: film.item, title: film.title, year: film.year,
                                       genres: film.genres, ratings: film.ratings, stars });
  renderRated();
  refreshStars();
  recommend();
  showSimilar(film);
}

function unrate(item) {
  state.rated.delete(String(item));
  renderRated();
  refreshStars();
  recommend();
}

function renderRated() {
  const rows = [...state.rated.values()].map((film) => el("li", { dataset: { item: String(film.item) } }, [
    el("span", { class: "film" }, [titleButton(film)]),
    starWidget(film),
    el("button", { class: "remove", type: "button", title: "Remove this rating",
                   "aria-label": `Remove ${film.title}`, text: "×", onclick: () => unrate(film.item) }),
  ]));
  $("rated").replaceChildren(...rows);
  $("clear").hidden = rows.length === 0;
  note("rated-note", rows.length ? "" : "Nothing rated yet: click the stars next to a film.");
}

// ------------------------------------------------------------------ recommendations
async function recommend() {
  const ticket = ++state.recsTicket;
  const list = $("recs");
  if (!state.foldIn) {
    note("recs-note", "This model cannot fold in a new user's ratings; serve a matrix " +
         "factorisation model to get recommendations here.", true);
    return;
  }
  if (state.rated.size === 0) {
    list.replaceChildren();
    note("recs-note", "Rate a film or two to see recommendations.");
    return;
  }
  const ratings = {};
  for (const [item, film] of state.rated) ratings[item] = starsToRating(film.stars);
  list.classList.add("busy");
  list.setAttribute("aria-busy", "true");
  try {
    const answer = await api("/recommend", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ ratings, n: 10 }),
    });
    if (ticket !== state.recsTicket) return;
    list.replaceChildren(...answer.items.map((film) => filmRow(film, el("span", {
      class: "score", title: "Predicted rating",
    }, [el("span", { class: "star-glyph", text: "★ " }), ratingToStars(film.prediction).toFixed(1)]))));
    note("recs-note", answer.items.length ? "" : "Nothing left to recommend.");
  } catch (error) {
    if (ticket === state.recsTicket) note("recs-note", error.message, true);
  } finally {
    if (ticket === state.recsTicket) {
      list.classList.remove("busy");
      list.setAttribute("aria-busy", "false");
    }
  }
}

// ------------------------------------------------------------------ similar films
async function showSimilar(film) {
  if (!state.similar) return;
  const ticket = ++state.similarTicket;
  $("similar-title").textContent = `Films like ${film.title}`;
  try {
    const answer = await api(`/similar?item=${encodeURIComponent(film.item)}&n=8`);
    if (ticket !== state.similarTicket) return;
    $("similar").replaceChildren(...answer.items.map((other) => filmRow(other, el("span", {
      class: "bar", title: `similarity ${other.similarity.toFixed(2)}`,
    }, [el("span", { style: `width:${Math.max(0, Math.round(other.similarity * 100))}%` })]))));
    note("similar-note", answer.items.length ? "" : "No similar film with enough ratings.");
  } catch (error) {
    if (ticket === state.similarTicket) note("similar-note", error.message, true);
  }
}

// ------------------------------------------------------------------ start
async function start() {
  try {
    const health = await api("/health");
    state.scale = health.rating_scale;
    state.foldIn = health.fold_in;
    state.similar = health.similar;
    $("status").textContent = `${health.model} · ${health.users.toLocaleString()} users · ` +
      `${health.items.toLocaleString()} films · ${health.ratings.toLocaleString()} ratings`;
    const [low, high] = state.scale;
    $("footer").textContent = `Predictions are on the model's rating scale ${low}–${high}` +
      (low <= 1 && high === 5 ? "." : `, shown as 1–5 stars.`) +
      ` Model file ${health.file}, loaded ${health.loaded_at}.`;
    $("recs-how").textContent = health.rank_by === "relevance"
      ? "Films you are likely to watch and like, best first; ★ is the rating the model predicts."
      : "Best predicted rating first.";
    if (!state.similar) note("similar-note", `${health.model} has no item factors to compare.`);
    if (!state.foldIn) recommend();
  } catch (error) {
    $("status").textContent = `The server did not answer: ${error.message}`;
    $("status").classList.add("bad");
  }
  let timer = null;
  $("search").addEventListener("input", (event) => {
    clearTimeout(timer);
    timer = setTimeout(() => search(event.target.value), 180);
  });
  $("clear").addEventListener("click", () => {
    state.rated.clear();
    renderRated();
    refreshStars();
    recommend();
  });
  search("");
}

start();
