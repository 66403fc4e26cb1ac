"""Drives the `orbiter serve` dashboard in headless Debian chromium (Selenium + chromium-driver).

usage: browser_check.py BASE_URL TOKEN QUEUE RUNNING_TASK DONE_TASK SCREENSHOT_DIR
Signs in through the form, checks the overview's live counts, follows the running task's
timeline while it streams, cancels it from the page, refuses a call without the CSRF token,
and saves screenshots. Exits non-zero with the failed check on stderr.
"""
import os, sys, time
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from selenium.common.exceptions import WebDriverException

base, token, queue, running, done, shots = sys.argv[1:7]
os.makedirs(shots, exist_ok=True)
options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000"):
    options.add_argument(arg)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
wait = WebDriverWait(driver, 25)


def check(condition, what):
    if not condition:
        driver.save_screenshot(os.path.join(shots, "failure.png"))
        sys.exit(f"dashboard check failed: {what}\n--- page ---\n{driver.page_source[:4000]}")


try:
    # Sign in through the form; the token ends up in an HttpOnly, SameSite=Strict cookie.
    driver.get(base + "/")
    field = wait.until(lambda d: d.find_element(By.ID, "token"))
    check(driver.find_element(By.CSS_SELECTOR, "label[for=token]").text == "API token", "the token field has a label")
    field.send_keys(token)
    field.submit()
    try:
        wait.until(lambda d: d.find_elements(By.ID, "queues"))
    except Exception:
        check(False, f"the overview after signing in (at {driver.current_url})")
    cookie = next(c for c in driver.get_cookies() if c["name"] == "orbiter_token")
    check(cookie["httpOnly"] and cookie.get("sameSite") == "Strict", f"cookie flags: {cookie}")
    check("token" not in driver.current_url, "the token is not in the address bar")

    # Overview with live data: the queue's running count reaches 1 (refreshed every second).
    row = f'#queues tr[data-queue="{queue}"] td[data-field="running"]'
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, row).text == "1")
    check(running in driver.page_source and done in driver.page_source, "the task list shows both tasks")
    wait.until(lambda d: d.find_element(By.ID, "chart-running").get_attribute("points").strip() != "")
    # Throughput: the live chart draws, the hour chart has the completed task's minute, and the
    # calculator's tokens (12 + 6 and 10 + 3 per run) show per queue and per model.
    wait.until(lambda d: len(d.find_element(By.ID, "chart-done").get_attribute("points").split()) >= 2)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#hour-bars rect.done"))
    tokens = f'#queues tr[data-queue="{queue}"] td[data-field="tokens_last_hour"]'
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, tokens).text.replace(",", "").isdigit())
    check(int(driver.find_element(By.CSS_SELECTOR, tokens).text.replace(",", "")) >= 31, "the queue's tokens in the last hour")
    check(driver.find_element(By.CSS_SELECTOR, f'#queues tr[data-queue="{queue}"] td[data-field="cost_last_hour"]').text == "-",
          "no price: the cost is unknown, not zero")
    wait.until(lambda d: "scripted" in d.find_element(By.ID, "models").text)
    peak = driver.find_element(By.ID, "hour-peak").text
    check(peak.endswith(" tasks") and int(peak.split()[0]) >= 1, f"busiest minute: {peak}")
    driver.save_screenshot(os.path.join(shots, "overview.png"))

    # The task list's filters: by agent, then by age.
    def filter_tasks(agent, newer="", older=""):
        box = driver.find_element(By.ID, "agent-filter")
        box.clear()
        box.send_keys(agent)
        for select_id, value in (("newer-filter", newer), ("older-filter", older)):
            driver.find_element(By.CSS_SELECTOR, f'#{select_id} option[value="{value}"]').click()
        # A mark on the old page's window marks the new page's load: the address alone does not,
        # when two filters share the agent. (Waiting for the old <main> to go stale is not
        # reliable: chromium may answer "node does not belong to the document", not "stale".)
        driver.execute_script("window.orbiterBeforeFilter = true")
        driver.find_element(By.CSS_SELECTOR, "form.filters button[type=submit]").click()

        def loaded(d):
            try:
                return (f"agent={agent}" in d.current_url and d.execute_script(
                    "return !window.orbiterBeforeFilter && document.readyState === 'complete'"))
            except WebDriverException:  # between the two documents
                return False

        wait.until(loaded)
        return driver.find_element(By.TAG_NAME, "main").text

    listed = filter_tasks("calculator")
    check(done in listed and running not in listed, "agent=calculator lists the calculator's task only")
    check("calculator" in driver.find_element(By.ID, "tasks").text, "the agent column")
    listed = filter_tasks("ticker", newer="5m")
    check(running in listed and done not in listed, "agent=ticker, created within 5 minutes")
    listed = filter_tasks("ticker", older="5m")
    check(running not in listed and "No tasks match these filters." in listed, "nothing is older than 5 minutes")
    driver.save_screenshot(os.path.join(shots, "overview-filtered.png"))

    # The running task's timeline fills while it streams.
    driver.get(f"{base}/ui/tasks/{running}?queue={queue}")
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#timeline li.tool")) >= 2)
    first = len(driver.find_elements(By.CSS_SELECTOR, "#timeline li"))
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#timeline li")) > first)
    check(driver.find_element(By.ID, "task-status").text == "running", "the task is still running while its timeline grows")
    check(any("tick" in li.text for li in driver.find_elements(By.CSS_SELECTOR, "#timeline li.text")), "streamed text appears in the timeline")
    driver.save_screenshot(os.path.join(shots, "task-running.png"))

    # A call with the cookie but without the page's CSRF token is refused.
    status = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        f"fetch('/v1/tasks/{running}/cancel?queue={queue}', {{method: 'POST'}}).then(r => r.json().then(j => done([r.status, j.error.code])));")
    check(status == [403, "csrf"], f"a cancel without the CSRF token is refused: {status}")
    check(driver.find_element(By.ID, "task-status").text == "running", "the refused call changed nothing")

    # Cancel from the page: the timeline ends with the cancelled status.
    driver.find_element(By.CSS_SELECTOR, 'button[data-action="cancel"]').click()
    wait.until(lambda d: d.find_element(By.ID, "task-status").text == "cancelled")
    check("cancel" in driver.find_element(By.ID, "message").text, "the page says what the button did")
    driver.save_screenshot(os.path.join(shots, "task-cancelled.png"))

    # A finished task's page: its timeline replays to the end, its output is shown.
    driver.get(f"{base}/ui/tasks/{done}?queue={queue}")
    wait.until(lambda d: any("completed" in li.text for li in d.find_elements(By.CSS_SELECTOR, "#timeline li.status")))
    check("The answer is 42." in driver.find_element(By.ID, "output").text, "the output is shown")
    driver.save_screenshot(os.path.join(shots, "task-completed.png"))

    # Phone width: still usable (no horizontal overflow of the page itself).
    driver.set_window_size(390, 844)
    driver.get(base + "/")
    wait.until(lambda d: d.find_elements(By.ID, "queues"))
    width = driver.execute_script("return document.documentElement.scrollWidth")
    check(width <= 400, f"the overview fits a phone's width ({width}px)")
    driver.save_screenshot(os.path.join(shots, "overview-phone.png"))
    print("dashboard checks passed")
finally:
    driver.quit()
