"""The page of `recsys serve`, in a real headless Chromium (Debian's ``chromium`` and
``chromium-driver``, driven by selenium; never a browser selenium downloads): search a title,
rate three films with stars, and watch the recommendations and similar films follow.

Chromium missing is a failure, not a skip: CI installs it (``.ci/run``). Set
``RECSYS_PAGE_SCREENSHOT=FILE`` to keep a copy of the screenshot outside the test's folder.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from test_serve import Server, fit_model

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def page_server(tmp_path_factory):
    model = fit_model(tmp_path_factory.mktemp("page") / "mf.npz", "--model", "mf",
                      "--epochs", "5", "--factors", "8")
    srv = Server(model, "--reload-interval", "0", "--no-precompute")  # the page folds in
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def browser():
    missing = [path for path in (CHROMIUM, CHROMEDRIVER)
               if not (os.path.isfile(path) and os.access(path, os.X_OK))]
    if missing:
        pytest.fail(f"the page test needs headless Chromium, and {', '.join(missing)} is "
                    "missing: install Debian's packages (apt-get install -y chromium "
                    "chromium-driver; .ci/run does this)", pytrace=False)
    from selenium import webdriver

    os.environ.setdefault("SE_OFFLINE", "true")  # selenium-manager must not download
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1400,1050", "--no-first-run", "--disable-extensions"):
        options.add_argument(flag)
    service = webdriver.ChromeService(executable_path=CHROMEDRIVER)
    driver = webdriver.Chrome(service=service, options=options)
    try:
        yield driver
    finally:
        driver.quit()  # closes Chromium and stops chromedriver
        process = getattr(service, "process", None)
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()


def _items(driver, list_id: str) -> list[str]:
    from selenium.webdriver.common.by import By

    return [li.get_attribute("data-item")
            for li in driver.find_elements(By.CSS_SELECTOR, f"#{list_id} > li")]


def test_rate_three_films_and_the_recommendations_follow(browser, page_server, tmp_path):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 30, ignored_exceptions=(StaleElementReferenceException,))
    browser.get(f"{page_server.url}/")
    wait.until(lambda d: "MatrixFactorization" in d.find_element(By.ID, "status").text)
    wait.until(lambda d: len(_items(d, "results")) > 0)  # the most rated films, at start
    assert _items(browser, "recs") == []

    films = [("toy story", "Toy Story (1995)", "1", 5),
             ("the matrix", "Matrix, The (1999)", "2571", 4),
             ("godfather", "Godfather, The (1972)", "858", 2)]
    shown: list[list[str]] = []
    for query, title, item, stars in films:
        box = browser.find_element(By.ID, "search")
        box.clear()
        box.send_keys(query)
        wait.until(lambda d: d.find_element(By.ID, "results").get_attribute("data-query")
                   == query and item in _items(d, "results"))
        row = browser.find_element(By.CSS_SELECTOR, f'#results > li[data-item="{item}"]')
        assert row.find_element(By.CSS_SELECTOR, ".title").text == title
        row.find_element(By.CSS_SELECTOR, f'button.star[data-stars="{stars}"]').click()
        wait.until(lambda d: item in _items(d, "rated")
                   and d.find_element(By.ID, "recs").get_attribute("aria-busy") == "false"
                   and len(_items(d, "recs")) == 10
                   and (not shown or _items(d, "recs") != shown[-1]))
        shown.append(_items(browser, "recs"))
        rated_stars = browser.find_elements(
            By.CSS_SELECTOR, f'#rated > li[data-item="{item}"] button.star.on')
        assert len(rated_stars) == stars
        wait.until(lambda d: d.find_element(By.ID, "similar-title").get_attribute("textContent")
                   == f"Films like {title}"
                   and len(_items(d, "similar")) > 0)
        assert item not in _items(browser, "similar")

    assert len({tuple(s) for s in shown}) == 3  # every rating changed the list
    assert not {"1", "2571", "858"} & set(shown[-1])  # rated films are not recommended
    predictions = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#recs .score")]
    assert len(predictions) == 10 and all(p.startswith("★") for p in predictions)
    assert not browser.find_element(By.ID, "recs-note").text  # no error shown

    shot = tmp_path / "serve_page.png"
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 20_000
    keep = os.environ.get("RECSYS_PAGE_SCREENSHOT")
    if keep:
        Path(keep).write_bytes(shot.read_bytes())

    # removing a rating updates the list again
    browser.find_element(By.CSS_SELECTOR, '#rated > li[data-item="858"] .remove').click()
    wait.until(lambda d: "858" not in _items(d, "rated")
               and d.find_element(By.ID, "recs").get_attribute("aria-busy") == "false"
               and _items(d, "recs") != shown[-1])
