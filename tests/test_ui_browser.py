"""The web UI in headless Chromium (Selenium) against `ilertd serve` on a loopback port, manual clock.

Each test saves a screenshot of where it ended to `$ILERTD_SCREENSHOTS` (default: the test's
temporary directory).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.paging import Paging

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import (  # noqa: E402
    NoSuchElementException,
    StaleElementReferenceException,
    TimeoutException,
    WebDriverException,
)
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="needs Chromium and its driver (apt-get install chromium chromium-driver; .ci/run does)")
# The incident list fetches its rows every 2 s; a page load is far quicker.
WAIT_S = 15
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    """One browser for the module's tests (starting one takes seconds); `chrome` gives each test
    a browser without cookies."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM  # type: ignore[assignment]
    profile = tmp_path_factory.mktemp("chromium")
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1000", f"--user-data-dir={profile}"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def chrome(chromium: WebDriver, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[WebDriver]:
    # Cookies are kept per host, not per port: one test's session would be the next one's.
    chromium.execute_cdp_cmd("Network.clearBrowserCookies", {})
    shots = Path(os.environ.get("ILERTD_SCREENSHOTS", str(tmp_path)))
    shots.mkdir(parents=True, exist_ok=True)
    chromium.ilertd_shot = lambda name: chromium.save_screenshot(  # type: ignore[attr-defined]
        str(shots / f"{request.node.name}-{name}.png"))
    try:
        yield chromium
    finally:
        chromium.save_screenshot(str(shots / f"{request.node.name}.png"))
        chromium.get("about:blank")


def admin_password(paging: Paging) -> str:
    text = (paging.daemon.data_dir / "first-run.txt").read_text()  # type: ignore[attr-defined]
    found = re.search(r"admin password: (\S+)", text)
    assert found is not None
    return found[1]


def user_with_password(paging: Paging, username: str, role: str = "USER") -> int:
    """A user created through the API, their password set with `ilertd user passwd` from stdin."""
    created = paging.daemon.post("/api/users", {"username": username, "role": role,
                                                "email": f"{username}@example.com"})
    assert created.status_code == 201, created.text
    daemon: Any = paging.daemon
    env = {k: v for k, v in os.environ.items() if not k.startswith("ILERTD_")}
    env["STATE_DIRECTORY"] = str(daemon.data_dir)
    done = subprocess.run([sys.executable, "-m", "ilertd", "user", "passwd", username], input=f"{PASSWORD}\n",
                          text=True, capture_output=True, env=env, cwd=daemon.directory, timeout=60)
    assert done.returncode == 0, done.stderr
    return int(created.json()["id"])


def log_in(driver: WebDriver, paging: Paging, username: str, password: str) -> None:
    driver.get(f"{paging.daemon.url}/ui/login")
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(password)
    submit = driver.find_element(By.CSS_SELECTOR, "form button[type=submit]")
    submit.click()
    # Until the answer's page replaced the form: a navigation started before would cancel the login.
    WebDriverWait(driver, WAIT_S, poll_frequency=0.05).until(replaced(submit))


def replaced(element: WebElement) -> Callable[[WebDriver], bool]:
    """selenium's staleness_of, also taking Chrome's other word for a replaced node: an inspector
    error saying it "does not belong to the document"."""
    def gone(_driver: WebDriver) -> bool:
        try:
            element.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as error:
            if "does not belong to the document" in str(error):
                return True
            raise
        return False
    return gone


def wait_for(driver: WebDriver, condition: Callable[[WebDriver], Any], timeout: float = WAIT_S) -> Any:
    # A click's page load replaces the elements a condition holds: look again until it is there.
    # Chrome reports a node replaced between finding it and reading it as a stale element, or
    # as an inspector error ("Node with given id does not belong to the document").
    return WebDriverWait(driver, timeout, poll_frequency=0.1,
                         ignored_exceptions=(NoSuchElementException, StaleElementReferenceException,
                                             WebDriverException)).until(condition)


def test_a_new_incident_appears_on_the_open_list_without_reloading(chrome: WebDriver, paging: Paging) -> None:
    log_in(chrome, paging, "admin", admin_password(paging))
    wait_for(chrome, lambda d: d.current_url.endswith("/ui/incidents"))
    assert "No incidents." in chrome.find_element(By.ID, "incident-rows").text
    chrome.execute_script("window.ilertdNotReloaded = true")
    incident_id = paging.alert("db1", summary="checkout latency above 2 s")
    row = wait_for(chrome, lambda d: d.find_elements(By.ID, f"incident-{incident_id}"))
    assert "checkout latency above 2 s" in row[0].text and "PENDING" in row[0].text
    assert chrome.execute_script("return window.ilertdNotReloaded") is True


def test_accept_comment_and_resolve_each_show_in_the_timeline(chrome: WebDriver, paging: Paging) -> None:
    dee = paging.user("dee")
    paging.policy([(10, [dee]), (10, [dee])])
    incident_id = paging.alert("db1", summary="replica lag 40 s on db-eu-1",
                               details="Replica db-eu-1 is 40 s behind its primary.",
                               links=[{"href": "https://runbook.example/replica-lag", "text": "Runbook"}])
    paging.daemon.advance("PT0S")
    log_in(chrome, paging, "admin", admin_password(paging))
    chrome.get(f"{paging.daemon.url}/ui/incidents/{incident_id}")
    assert "next level at" in chrome.find_element(By.CSS_SELECTOR, "dl.facts").text
    chrome.find_element(By.XPATH, "//button[normalize-space()='Accept']").click()
    wait_for(chrome, lambda d: "Accepted." in d.find_element(By.CSS_SELECTOR, ".notice").text)
    chrome.find_element(By.ID, "content").send_keys("Restarting the replica.")
    chrome.find_element(By.XPATH, "//button[normalize-space()='Add comment']").click()
    wait_for(chrome, lambda d: "Comment added." in d.find_element(By.CSS_SELECTOR, ".notice").text)
    chrome.ilertd_shot("accepted")  # type: ignore[attr-defined]
    Select(chrome.find_element(By.ID, "level")).select_by_value("1")
    chrome.find_element(By.XPATH, "//button[normalize-space()='Escalate']").click()
    wait_for(chrome, lambda d: "Escalated." in d.find_element(By.CSS_SELECTOR, ".notice").text)
    chrome.find_element(By.XPATH, "//button[normalize-space()='Resolve']").click()
    wait_for(chrome, lambda d: "Resolved." in d.find_element(By.CSS_SELECTOR, ".notice").text)
    kinds = [e.text for e in chrome.find_elements(By.CSS_SELECTOR, "ol.timeline .kind")]
    assert [k for k in kinds if k in ("Accepted", "Comment", "Escalated", "Resolved")] == [
        "Accepted", "Comment", "Escalated", "Resolved"]
    assert "Restarting the replica." in chrome.find_element(By.CSS_SELECTOR, "ol.timeline").text
    assert chrome.find_element(By.CSS_SELECTOR, "h1 .badge").text == "RESOLVED"
    assert paging.daemon.get(f"/api/incidents/{incident_id}").json()["status"] == "RESOLVED"


def test_a_form_posted_without_its_csrf_token_is_refused(chrome: WebDriver, paging: Paging) -> None:
    incident_id = paging.alert("db1", summary="disk full")
    log_in(chrome, paging, "admin", admin_password(paging))
    chrome.get(f"{paging.daemon.url}/ui/incidents/{incident_id}")
    chrome.execute_script("document.querySelectorAll('input[name=csrf_token]').forEach(e => e.remove())")
    chrome.find_element(By.XPATH, "//button[normalize-space()='Accept']").click()
    wait_for(chrome, lambda d: "security token" in d.find_element(By.TAG_NAME, "main").text)
    assert chrome.find_element(By.TAG_NAME, "h1").text == "Not allowed"
    assert paging.daemon.get(f"/api/incidents/{incident_id}").json()["status"] == "PENDING"


def test_five_wrong_passwords_are_rate_limited(chrome: WebDriver, paging: Paging) -> None:
    user_with_password(paging, "bo")
    for _ in range(5):
        log_in(chrome, paging, "bo", "not the password")
        wait_for(chrome, lambda d: "Wrong user name or password" in d.find_element(By.TAG_NAME, "main").text)
    log_in(chrome, paging, "bo", PASSWORD)
    wait_for(chrome, lambda d: "Too many failed logins" in d.find_element(By.TAG_NAME, "main").text)
    assert "/ui/login" in chrome.current_url
    paging.daemon.advance("PT15M")
    log_in(chrome, paging, "bo", PASSWORD)
    wait_for(chrome, lambda d: d.current_url.endswith("/ui/incidents"))


def test_a_user_gets_403_on_admin_pages(chrome: WebDriver, paging: Paging) -> None:
    user_with_password(paging, "cy")
    log_in(chrome, paging, "cy", PASSWORD)
    wait_for(chrome, lambda d: d.current_url.endswith("/ui/incidents"))
    assert not chrome.find_elements(By.LINK_TEXT, "Admin")
    for path in ("/ui/admin/users", "/ui/admin/maintenance"):
        chrome.get(f"{paging.daemon.url}{path}")
        try:
            wait_for(chrome, lambda d: d.find_element(By.TAG_NAME, "h1").text == "Not allowed", 5)
        except TimeoutException:
            pytest.fail(f"{path} did not refuse a USER: {chrome.find_element(By.TAG_NAME, 'main').text}")


def test_an_admin_edits_another_users_sms_rule_and_the_next_page_follows_it(chrome: WebDriver,
                                                                             paging: Paging) -> None:
    eve = paging.user("eve", [("SMS", 0, "HIGH_PRIORITY")])
    phone = next(c["target"] for c in paging.daemon.get(f"/api/users/{eve}/contacts").json())
    (rule,) = paging.daemon.get(f"/api/users/{eve}/notification-preferences/alerts").json()
    paging.policy([(30, [eve])])
    log_in(chrome, paging, "admin", admin_password(paging))
    wait_for(chrome, lambda d: d.current_url.endswith("/ui/incidents"))
    chrome.get(f"{paging.daemon.url}/ui/admin/users/{eve}")
    delay = chrome.find_element(By.ID, f"alerts-{rule['id']}-delay")
    delay.clear()
    delay.send_keys("5")
    chrome.find_element(By.CSS_SELECTOR, f"#alerts-{rule['id']} button[type=submit]").click()
    wait_for(chrome, lambda d: d.find_elements(By.CSS_SELECTOR, ".notice"))
    assert paging.daemon.get(f"/api/users/{eve}/notification-preferences/alerts").json()[0]["delayMin"] == 5
    paging.alert("db1", summary="orders queue stuck")
    paging.daemon.advance("PT4M59S")
    assert paging.http.to(f"/sms/{phone}") == []
    paging.daemon.advance("PT1S")
    assert len(paging.http.to(f"/sms/{phone}")) == 1
