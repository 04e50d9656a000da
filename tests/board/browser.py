"""The board in a real browser (issue 17): headless Chromium, driven by Selenium through
chromedriver, against `brain board` on a test repo that crates/brain/tests/cli/board.rs made.

It starts the board itself (so that it can restart it), then checks what a person would: the
lanes and cards, a hostile task title shown as text, approving a gate and answering a question
through the page, adding a task through the form, a requeue, a claim made from the CLI and an
edit made by hand appearing without a reload, the page reconnecting after the board restarts, a
refused change explained, keyboard use, and a phone-sized screen. Screenshots of desktop and
phone widths go to the folder given (not committed).

Usage: browser.py BRAIN REPO SHOTS IDS_JSON  (exit 0 when every check holds)
"""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

BRAIN, REPO, SHOTS, IDS = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), json.loads(sys.argv[4])
SHOTS.mkdir(parents=True, exist_ok=True)
ENV = {k: v for k, v in os.environ.items() if k not in ("BRAIN_NOW", "BRAIN_REPO", "BRAIN_AGENT")}


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print(f"ok  {what}", flush=True)


def start_board(port=0):
    p = subprocess.Popen([BRAIN, "--repo", str(REPO), "board", "--port", str(port)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    line = p.stdout.readline()
    m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
    if not m:
        raise AssertionError(f"brain board printed no address: {line!r} {p.stderr.read()}")
    return p, int(m.group(1))


def cli(*args):
    r = subprocess.run([BRAIN, "--repo", str(REPO), *args], capture_output=True, text=True, env=ENV)
    if r.returncode != 0:
        raise AssertionError(f"brain {' '.join(args)}: {r.stderr}")
    return r.stdout


board, port = start_board()
url = f"http://127.0.0.1:{port}/"
opts = webdriver.ChromeOptions()
opts.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
          "--window-size=1400,1000"):
    opts.add_argument(a)
driver = webdriver.Chrome(options=opts, service=Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")))
wait = WebDriverWait(driver, 10)


def q(css):
    return driver.find_elements(By.CSS_SELECTOR, css)


# Reads go through one script each: the page re-renders on every change, and an element
# found in one call may be gone by the next.
def text(css):
    return driver.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.textContent : null", css)


def texts(css):
    return driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map(e => e.textContent)", css)


def count(css):
    return driver.execute_script("return document.querySelectorAll(arguments[0]).length", css)


def until(fn, what, secs=10):
    end = time.monotonic() + secs
    while time.monotonic() < end:
        try:
            if fn():
                return
        except Exception:
            pass
        time.sleep(0.05)
    toast = driver.execute_script("return document.getElementById('toast').textContent")
    logs = driver.get_log("browser") if hasattr(driver, "get_log") else []
    needs = driver.execute_script("return document.getElementById('needs-list').innerText")
    raise AssertionError(f"timed out: {what} (the page said: {toast!r}; Needs you: {needs!r}; "
                         f"console: {logs})")


def click(css, what):
    """Clicks the element when it is there (the page re-renders on every change)."""
    def go():
        els = q(css)
        if els:
            # In the middle of the screen, not under the sticky header.
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", els[0])
            els[0].click()
            return True
        return False
    until(go, f"{what} ({css})")


def card_ids(col):
    return driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map(e => e.dataset.id)",
        f"#col-{col} .card")


def titles(col):
    return texts(f"#col-{col} .card .title")


try:
    t0 = time.monotonic()
    driver.get(url)
    until(lambda: driver.execute_script("return document.body.dataset.version !== undefined"),
          "the first paint")
    print(f"     first paint in {time.monotonic() - t0:.2f} s (the figure is measured by scripts/bench/board.py)")
    driver.execute_script("window.notReloaded = 1")

    # The lanes and the cards.
    gated = IDS["gated"]
    approval = f'#needs-list .approval[data-task="{gated}"]'
    check(count(approval) == 1, "the gated task waits in the Needs you lane")
    title = text(approval + " .title")
    check(title == IDS["hostile_title"], f"its hostile title is shown as text: {title!r}")
    check(count("#needs-list img, #needs-list b") == 0
          and driver.execute_script("return window.pwned === undefined"),
          "no element or script came from the task's text")
    check(count(f'#needs-list .question[data-qid="{IDS["question"]}"]') == 1,
          "the open question waits in the Needs you lane")
    check(IDS["blocked"] in card_ids("pending") and IDS["ready"] in card_ids("pending"),
          "the pending column holds the pending tasks")
    blocked = text(f'#col-pending .card[data-id="{IDS["blocked"]}"] .why')
    check(f"depends on {IDS['ready']}" in blocked, f"a blocked task says why: {blocked!r}")
    check(IDS["failed"] in card_ids("failed"), "the failed column holds the failed task")
    reason = text(f'#col-failed .card[data-id="{IDS["failed"]}"] .reason')
    check("the disk was full" in reason, f"the failed card gives its reason: {reason!r}")
    check(IDS["done"] in card_ids("completed"), "the completed column holds the finished task")
    check(any("add " in li for li in texts("#activity li")),
          "the history shows what happened")
    driver.save_screenshot(str(SHOTS / "board-desktop.png"))

    # Approve the gate and answer the question through the page.
    click(f'#needs-list .approval[data-task="{gated}"] button.go', "the Approve button")
    until(lambda: count(approval) == 0, "the approval card to go")
    until(lambda: "Approved" in text("#toast"), "the page to say it approved the task")
    check(True, "the page says it approved the task")
    answer_box = f'#needs-list .question[data-qid="{IDS["question"]}"] textarea'

    def type_in(css, keys):
        def go():
            driver.execute_script("arguments[0].focus()", q(css)[0])
            driver.switch_to.active_element.send_keys(keys)
            return True
        until(go, f"typing into {css}")

    type_in(answer_box, "Use Postgres 16, ")
    # A change elsewhere while the person types: what they typed stays, and so does the focus.
    cli("add", "Added while typing")
    until(lambda: "Added while typing" in titles("pending"), "the change made while typing")
    value = driver.execute_script("return document.querySelector(arguments[0]).value", answer_box)
    check(value == "Use Postgres 16, ", f"a live update keeps what the person was typing: {value!r}")
    focus = driver.execute_script("return document.activeElement.dataset.draft || document.activeElement.tagName")
    check(focus == f"answer:{IDS['question']}", f"and the focus stays in the answer box ({focus})")
    type_in(answer_box, "the one in docker-compose.yml.")
    click(f'#needs-list .question[data-qid="{IDS["question"]}"] button.go', "the Answer button")
    until(lambda: count(f'#needs-list .question[data-qid="{IDS["question"]}"]') == 0,
          "the question card to go")
    check("Postgres 16" in (REPO / "prompts" / "answered.md").read_text(),
          "the answer is in prompts/answered.md")

    # Add a task through the form.
    f = q("form#add")[0]
    f.find_element(By.NAME, "title").send_keys("From the board")
    f.find_element(By.NAME, "body").send_keys("## Steps\n- first\n- second")
    f.find_element(By.NAME, "priority").send_keys("high")
    f.find_element(By.NAME, "requires").send_keys("file_access, writing")
    f.find_element(By.NAME, "timeout").send_keys("45m")
    f.find_element(By.NAME, "max_turns").send_keys("12")
    f.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    until(lambda: "From the board" in titles("pending"), "the added task in the pending column")
    added = driver.execute_script(
        "return [...document.querySelectorAll('#col-pending .card')]"
        ".find(c => c.querySelector('.title').textContent === 'From the board').dataset.id")
    task_text = (REPO / "tasks" / "pending" / f"{added}.md").read_text()
    check("priority: high" in task_text and "timeout: 45m" in task_text and "max_turns: 12" in task_text
          and "- writing" in task_text, "the form's fields are in the task file")

    # Requeue the failed task.
    click(f'#col-failed .card[data-id="{IDS["failed"]}"] button', "the Requeue button")
    until(lambda: IDS["failed"] in card_ids("pending"), "the requeued task in pending")
    check(True, "requeue moved the failed task back to pending")

    # A claim made from the CLI, and an edit made by hand, appear without a reload.
    t = time.monotonic()
    cli("claim", "--agent", "a", IDS["ready"])
    claimed_at = time.monotonic()
    until(lambda: IDS["ready"] in card_ids("active"), "the CLI's claim on the page", secs=5)
    live = time.monotonic() - claimed_at
    check(driver.execute_script("return window.notReloaded") == 1,
          f"the claim appeared live, {live:.2f} s after `brain claim` returned, without a reload")
    check(live <= 1.0, f"the claim appeared within 1 s ({live:.2f} s)")
    agent = text(f'#col-active .card[data-id="{IDS["ready"]}"] dd')
    check(agent == "a", f"the active card names its agent: {agent!r}")
    path = REPO / "tasks" / "pending" / f"{IDS['blocked']}.md"
    path.write_text(path.read_text().replace("# Task: Blocked", "# Task: Blocked, edited by hand"))
    until(lambda: "Blocked, edited by hand" in titles("pending"), "a hand edit on the page", secs=5)
    check(True, "an edit made by hand appeared live")

    # Refused changes are explained: a stale action, a change without the session token.
    res = driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const s = document.querySelector('meta[name="brain-session"]').content;
        const post = (p, b, h) => fetch(p, {method: 'POST', headers: h, body: JSON.stringify(b)})
          .then(async r => [r.status, await r.text()]);
        Promise.all([
          post('/api/approve', {id: arguments[0]}, {'Content-Type': 'application/json', 'X-Brain-Session': s}),
          post('/api/approve', {id: arguments[0]}, {'Content-Type': 'application/json'}),
        ]).then(done);
    """, IDS["ready"])
    check(res[0][0] == 409 and "not pending" in res[0][1],
          f"approving a task claimed meanwhile is refused with why: {res[0]}")
    check(res[1][0] == 403 and "session token" in res[1][1],
          f"a change without the session token is refused: {res[1]}")

    # A task in detail, by keyboard: its fields, its text as Markdown, its log.
    def press_enter():
        driver.execute_script("arguments[0].focus()", q(f'#col-pending .card[data-id="{added}"]')[0])
        driver.switch_to.active_element.send_keys(Keys.ENTER)
        return True
    until(press_enter, "Enter on a focused card")
    until(lambda: driver.execute_script("return document.getElementById('detail').open"),
          "the detail dialog to open from the keyboard")
    items = texts("#detail-body .markdown li")
    check(items == ["first", "second"], f"the task's text is rendered as Markdown: {items}")
    check("From the board" in text("#detail-title"), "the dialog shows the task")
    driver.switch_to.active_element.send_keys(Keys.ESCAPE)
    until(lambda: not driver.execute_script("return document.getElementById('detail').open"),
          "Escape to close the dialog")
    check(True, "Enter opens a card and Escape closes it")

    # The board restarts: the page reconnects and follows changes again.
    board.terminate()
    board.wait()
    until(lambda: "reconnecting" in text("#live"), "the page to notice the server is gone")
    board, _ = start_board(port)
    until(lambda: text("#live") == "live", "the page to reconnect", secs=10)
    cli("add", "After the restart")
    until(lambda: "After the restart" in titles("pending"), "a change after the restart", secs=5)
    check(True, "after a restart of the board the page reconnected and shows new changes")
    click(f'#needs-list .approval[data-task="{IDS["gated2"]}"] button.go', "the second Approve")
    until(lambda: count(f'#needs-list .approval[data-task="{IDS["gated2"]}"]') == 0,
          "an approval after the restart")
    check(True, "the page still makes changes after the restart (its session was kept)")

    # A phone-sized screen.
    driver.set_window_size(390, 844)
    time.sleep(0.3)
    wide = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    check(wide <= 1, f"nothing is wider than a phone's screen ({wide} px over)")
    first = driver.execute_script(
        "return document.getElementById('needs').getBoundingClientRect().top < "
        "document.getElementById('columns').getBoundingClientRect().top")
    check(first, "on a phone the Needs you lane comes first")
    driver.save_screenshot(str(SHOTS / "board-phone.png"))
    print(f"     screenshots: {SHOTS / 'board-desktop.png'}, {SHOTS / 'board-phone.png'}")
finally:
    driver.quit()
    board.terminate()
    board.wait()
