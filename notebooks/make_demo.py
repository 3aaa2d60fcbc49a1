"""Build notebooks/demo.ipynb (stored without outputs).

Run from anywhere: ``python notebooks/make_demo.py``. Edit the cells here, not in the notebook,
so the notebook stays reviewable and free of outputs.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

CELLS: list[tuple[str, str]] = [
    ("md", """\
# recsys: a Netflix-style recommender, top to bottom

This notebook walks through the project on the bundled MovieLens "latest small" data
(100,836 ratings of 9,742 movies by 610 users):

1. load and look at the ratings;
2. the bias baseline $\\hat r_{ui} = \\mu + b_u + b_i$;
3. matrix factorisation learned by per-rating SGD, with its learning curve;
4. the tanh network trained by backpropagation, on the lecture's XOR example;
5. the hybrid (factors + autoencoder + network) and
6. the evaluation table, with the improvement over the baseline;
7. recommendations and similar movies for one user;
8. a 2-D picture of the item factors;
9. what happens when the input is bad.

It runs in well under two minutes on two cores."""),
    ("code", """\
%matplotlib inline
import time

import numpy as np
import pandas as pd

from recsys.evaluation import plots
from recsys.data.loading import load
from recsys.data.splits import holdout_split, validation_split
from recsys.metrics import rmse

pd.set_option("display.width", 120)
SEED = 0
start_notebook = time.perf_counter()"""),
    ("md", "## 1. The data"),
    ("code", """\
ratings = load()  # the bundled ml-latest-small
ratings"""),
    ("code", """\
frame = ratings.to_dataframe()
titles = pd.Series(ratings.item_titles(), index=ratings.item_ids)
frame["title"] = titles.reindex(frame["item"]).to_numpy()
frame.head()"""),
    ("code", """\
counts_user = ratings.user_counts()
counts_item = ratings.item_counts()
density = len(ratings) / (ratings.n_users * ratings.n_items)
print(f"mean rating mu = {ratings.global_mean:.3f}, matrix filled to {100 * density:.2f} %")
print(f"ratings per user: median {np.median(counts_user):.0f}, max {counts_user.max()}")
print(f"ratings per movie: median {np.median(counts_item):.0f}, max {counts_item.max()}; "
      f"{(counts_item == 1).sum()} movies have a single rating")

fig = plots.new_figure(10, 3.2)
ax1, ax2 = fig.subplots(1, 2)
values, freq = np.unique(ratings.ratings, return_counts=True)
ax1.bar(values, freq, width=0.4)
ax1.set_xlabel("rating")
ax1.set_ylabel("count")
ax1.set_title("Rating values")
ax2.loglog(np.arange(1, ratings.n_items + 1), np.sort(counts_item)[::-1])
ax2.set_xlabel("movie rank by popularity")
ax2.set_ylabel("ratings")
ax2.set_title("The long tail")
fig"""),
    ("code", """\
# most-rated movies
top = np.argsort(-counts_item)[:8]
pd.DataFrame({"title": ratings.item_titles()[top], "ratings": counts_item[top]})"""),
    ("md", """\
## 2. Train/test split and the bias baseline

80 % of the ratings (at random) train the models, 20 % test them; 10 % of the training part is
held out as a validation set for the learning curves. The bias baseline predicts
$\\hat r_{ui} = \\mu + b_u + b_i$: the mean rating, plus how much this user rates above average,
plus how much this movie is rated above average, each shrunk towards 0 when it rests on few
ratings."""),
    ("code", """\
train_all, test = holdout_split(ratings, random_state=SEED)
train, valid = validation_split(train_all, valid_size=0.1, random_state=SEED)
print(f"train {len(train):,}  validation {len(valid):,}  test {len(test):,}")

from recsys.models.baseline import BiasBaseline, GlobalMean

mean_model = GlobalMean().fit(train)
baseline = BiasBaseline().fit(train, validation=valid)
rmse_mean = rmse(test.ratings, mean_model.predict_ratings(test))
rmse_base = rmse(test.ratings, baseline.predict_ratings(test))
print(f"global mean   test RMSE {rmse_mean:.4f}")
print(f"bias baseline test RMSE {rmse_base:.4f} "
      f"({100 * (rmse_mean - rmse_base) / rmse_mean:.1f} % better than the global mean)")"""),
    ("md", """\
## 3. Matrix factorisation by stochastic gradient descent

Each user $u$ and movie $i$ get a vector of $k$ factors, $p_u$ and $q_i$, and
$\\hat r_{ui} = \\mu + b_u + b_i + p_u \\cdot q_i$. SGD visits one rating at a time, in a fresh
random order every epoch, and moves the parameters against the gradient of
$e_{ui}^2 = (r_{ui} - \\hat r_{ui})^2$ plus an L2 penalty:

$$p_u \\leftarrow p_u + \\eta\\,(e_{ui}\\, q_i - \\lambda p_u), \\qquad
  q_i \\leftarrow q_i + \\eta\\,(e_{ui}\\, p_u - \\lambda q_i).$$"""),
    ("code", """\
from recsys.models.mf import MatrixFactorization

mf = MatrixFactorization(random_state=SEED)
t0 = time.perf_counter()
mf.fit(train, validation=valid)
print(f"{mf!r}\\nfitted in {time.perf_counter() - t0:.1f} s")
rmse_mf = rmse(test.ratings, mf.predict_ratings(test))
print(f"MF test RMSE {rmse_mf:.4f} ({100 * (rmse_base - rmse_mf) / rmse_base:.2f} % better "
      "than the bias baseline)")
plots.learning_curves({"matrix factorisation": mf.history_})"""),
    ("md", """\
## 4. The tanh network, on the lecture's XOR example

A single perceptron cannot separate XOR: $f = h_1 \\oplus h_2$ with $h_1 = \\mathrm{sign}(x_1)$
and $h_2 = \\mathrm{sign}(x_2)$. A network with one hidden layer of tanh units can. Training is
backpropagation: the forward pass computes the signals $s_j^{(l)} = \\sum_i w_{ij}^{(l)}
x_i^{(l-1)}$ and outputs $x_j^{(l)} = \\tanh(s_j^{(l)})$; the backward pass computes
$\\delta^{(L)} = 2(x^{(L)} - y)(1 - (x^{(L)})^2)$ and
$\\delta_i^{(l-1)} = (1 - (x_i^{(l-1)})^2) \\sum_j w_{ij}^{(l)} \\delta_j^{(l)}$; each weight moves
by $-\\eta\\, x_i^{(l-1)} \\delta_j^{(l)}$."""),
    ("code", """\
from recsys.models.mlp import MLP

X_xor = np.array([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]])
y_xor = np.where((X_xor[:, 0] > 0) ^ (X_xor[:, 1] > 0), 1.0, -1.0)
net = MLP(hidden=(4,), output="tanh", lr=0.1, n_epochs=400, random_state=1).fit(X_xor, y_xor)
print("targets    ", y_xor)
print("network    ", np.round(net.predict(X_xor), 3))
print(f"final training MSE {net.history_['train_mse'][-1]:.4f}")
print("weight shapes (from node i of layer l-1 to node j of layer l, bias row first):",
      [w.shape for w in net.weights_])
plots.decision_surface(net.predict, X_xor, y_xor, title="XOR learned by a 2-4-1 tanh network")"""),
    ("md", """\
## 5. The hybrid, and 6. the evaluation table

The hybrid blends two views of the ratings, the factor model and an item autoencoder (each
movie's column of ratings through one tanh layer), with a small tanh network fed both
predictions, the biases, rating counts and side information (genres, year). The network is
trained on *out-of-fold* predictions, so it never sees a prediction made by a model that was
fitted on the very rating it tries to predict.

`recsys.evaluate` (also `recsys evaluate` on the command line) fits every model on the
training side and scores the test side once: RMSE, MAE, the improvement in RMSE over the global
mean and over the bias baseline ($100\\,(\\mathrm{RMSE}_{ref} - \\mathrm{RMSE}) /
\\mathrm{RMSE}_{ref}$, the Netflix Prize measure), and top-10 figures (a test rating
$\\ge 4$ marks a relevant movie). With the same seed it cuts the same 80/20 split and
validation part as above. The hybrid is fitted here, with lighter settings than its defaults
so that the notebook stays quick (`keep_models=True` hands back the fitted models)."""),
    ("code", """\
from recsys import evaluate

light_hybrid = {"n_folds": 2, "mf_epochs": 30, "ar_hidden": 100, "ar_steps": 60, "n_epochs": 5}
t0 = time.perf_counter()
report = evaluate(ratings, split="holdout", models=("baseline", "mf", "hybrid"), seed=SEED,
                  model_params={"hybrid": light_hybrid}, topn_users=300, keep_models=True)
print(f"evaluated in {time.perf_counter() - t0:.0f} s: {report!r}")
hybrid = report.fitted["hybrid"]"""),
    ("code", """\
table = report.table()
table[["rmse", "mae", "vs_mean_pct", "vs_baseline_pct", "precision@10", "recall@10",
       "ndcg@10", "coverage", "fit_seconds"]].round(4)"""),
    ("code", """\
plots.learning_curves({"hybrid (blending network)": hybrid.history_})"""),
    ("code", """\
plots.error_distribution(report.errors())"""),
    ("md", """\
## 7. Recommendations for one user

The movies the most active user rated highest in training, then the ten the factor
model recommends among the movies they have not rated, and the movies most similar to
a well-known film (cosine similarity of the item factors)."""),
    ("code", """\
user = ratings.user_ids[np.argmax(counts_user)]
mine = train_all.to_dataframe()
mine = mine[mine["user"] == user].sort_values("rating", ascending=False).head(8)
mine["title"] = titles.reindex(mine["item"]).to_numpy()
n_rated = int((train_all.users == ratings.user_of(user)).sum())
print(f"user {user} rated {n_rated} movies in training; the best:")
mine[["item", "title", "rating"]]"""),
    ("code", """\
mf.recommend(user, n=10)[["title", "year", "genres", "prediction"]]"""),
    ("code", """\
# movies nearest to The Matrix by cosine similarity of q_i, among those with 20+ ratings
# (the factors of rarely rated movies stay close to their random start)
rated = pd.Series(mf.item_counts_, index=mf.item_ids_)
similar = mf.similar_items("Matrix, The", n=300)
similar = similar[rated.reindex(similar["item"]).to_numpy() >= 20].head(8).reset_index(drop=True)
similar["year"] = similar["year"].astype("Int64")
print("query:", similar.attrs["query"])
similar[["title", "year", "genres", "similarity"]]"""),
    ("md", """\
## 8. The item factors in two dimensions

The first two principal components of the factor vectors $q_i$ of movies with at least 20
ratings. Movies that the same people like end up close together."""),
    ("code", """\
Q = np.asarray(mf.item_factors_, dtype=float)
popular = np.flatnonzero(mf.item_counts_ >= 20)
centred = Q[popular] - Q[popular].mean(axis=0)
_, _, vt = np.linalg.svd(centred, full_matrices=False)
coords = centred @ vt[:2].T
famous = ["Toy Story (1995)", "Star Wars: Episode IV", "Pulp Fiction", "Godfather, The",
          "Titanic (1997)", "Matrix, The", "Shawshank Redemption", "Forrest Gump",
          "Silence of the Lambs", "Lion King, The", "Dumb & Dumber",
          "Aladdin (1992)", "Fargo (1996)", "Schindler's List"]
row_of = {int(i): r for r, i in enumerate(popular)}
labels = {}
for name in famous:
    idx = mf.resolve_item(name)
    if idx in row_of:
        labels[row_of[idx]] = mf.item_titles_[idx]
plots.item_map(coords, labels, weights=mf.item_counts_[popular])"""),
    ("md", """\
## 9. When the input is bad

Every mistake a user or a file can make is a `recsys.RecsysError` subclass whose message is one
line: what was wrong and what to do. A failed fit leaves the model unfitted, and a model file
that would need unpickling is refused before anything in it is read."""),
    ("code", """\
import os
import tempfile

import recsys
from recsys.models import MatrixFactorization

folder = tempfile.mkdtemp()
bad_file = os.path.join(folder, "my_ratings.csv")
with open(bad_file, "w") as handle:
    handle.write("userId,movieId,rating\\n1,10,4\\n1,11,banana\\n")
trials = {
    "a rating that is not a number": lambda: recsys.load(bad_file),
    "a learning rate that diverges": lambda: MatrixFactorization(lr=50, n_epochs=3).fit(train),
    "a setting of the wrong type": lambda: MatrixFactorization(n_factors="ten").fit(train),
    "a user the model never saw": lambda: mf.recommend(user=424242),
    "a model file that is not one": lambda: recsys.load_model(bad_file),
}
caught = 0
for what, trial in trials.items():
    try:
        trial()
    except recsys.RecsysError as error:
        caught += 1
        print(f"{what}:\\n    {type(error).__name__}: {error}")
assert caught == len(trials), 'each trial should end in its one-line error'"""),
    ("code", """\
print(f"notebook ran in {time.perf_counter() - start_notebook:.0f} s")"""),
]


def build() -> nbformat.NotebookNode:
    """The notebook, without outputs."""
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for kind, source in CELLS:
        nb.cells.append(new_markdown_cell(source) if kind == "md" else new_code_cell(source))
    for n, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{n:02d}"
    return nb


def main() -> Path:
    path = Path(__file__).resolve().parent / "demo.ipynb"
    nb = build()
    nbformat.validate(nb)
    nbformat.write(nb, str(path))
    return path


if __name__ == "__main__":
    print(main())
