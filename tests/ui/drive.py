"""Drives certgate's dashboard in headless Chromium (Debian's chromium and chromium-driver,
through Selenium) the way an operator would, and prints what it saw as one JSON line.

  drive.py <admin_url> <admin_token> <tenant_token> <screenshot.png>

The page is at <admin_url>/ui/. Scenario: log in as the admin; a certificate created through the
API meanwhile appears with its countdown; renew it from the page and see the generation's status
change; see a failed certificate's error; save a screenshot; log in as a tenant and see only the
tenant's certificate. Console errors and CSP violations are collected throughout.
"""

import json
import sys
import time
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

base, admin_token, tenant_token, screenshot = sys.argv[1:5]
out = {"console": [], "csp_violations": 0}


def api(method, path, body=None, token=admin_token):
    req = urllib.request.Request(base + path, method=method)
    req.add_header("Authorization", "Bearer " + token)
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, data, timeout=10) as r:
        return json.loads(r.read() or b"null")


options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--window-size=1400,900", "--no-first-run", "--disable-extensions"):
    options.add_argument(arg)
options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
wait = WebDriverWait(driver, 20, poll_frequency=0.1)


def collect_console():
    for entry in driver.get_log("browser"):
        if entry["level"] in ("SEVERE", "WARNING"):
            out["console"].append(entry["message"])
    out["csp_violations"] += int(driver.find_element(By.TAG_NAME, "body").get_attribute("data-csp-violations") or 0)


def text(selector):
    """innerText of the first element matching `selector`, or None: read in the page, so a
    table re-rendered by the periodic refresh never leaves a stale reference behind."""
    return driver.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.innerText : null;", selector)


def click(selector):
    wait.until(lambda d: d.execute_script(
        "const e = document.querySelector(arguments[0]); if (!e) return false; e.click(); return true;",
        selector))


def cell(name, part):
    return text(f'tr[data-cert="{name}"] {part}') or ""


def cert_names():
    return sorted(driver.execute_script(
        "return [...document.querySelectorAll('tr[data-cert]')].map(r => r.dataset.cert);"))


def log_in(token):
    driver.get(base + "/ui/")
    field = wait.until(lambda d: d.find_element(By.ID, "token"))
    field.send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "#login button[type=submit]").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "tr[data-cert]"))


try:
    log_in(admin_token)
    out["admin_sees_cluster_tab"] = driver.find_element(By.ID, "cluster-tab").is_displayed()
    # Created through the API while the page is open: it appears, with its countdown.
    api("POST", "/certificates/", {"cert_name": "ui-new", "domain": "new.ui.test", "issuer": "self-signed"})
    wait.until(lambda d: text('tr[data-cert="ui-new"] .countdown.ok'))
    out["new_countdown"] = cell("ui-new", ".countdown")
    out["new_status"] = cell("ui-new", ".status").split("\n")[0]
    # Renewed from the page: the generation's status shows in the row, and ends completed.
    click('tr[data-cert="ui-new"] button[data-action="renew"]')
    wait.until(lambda d: "generation: completed" in cell("ui-new", ".status"))
    out["renewed_status"] = cell("ui-new", ".generation")
    # A failed certificate shows why.
    out["failed_text"] = cell("ui-failed", ".status")
    # Detail: the chain, never the key.
    click('tr[data-cert="ui-new"] td')
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#chain-rows tr"))
    out["chain_rows"] = len(driver.find_elements(By.CSS_SELECTOR, "#chain-rows tr"))
    out["page_has_key"] = "PRIVATE KEY" in driver.page_source
    driver.find_element(By.ID, "detail-close").click()
    # Filters.
    driver.find_element(By.ID, "filter").send_keys("tenant")
    out["filtered"] = cert_names()
    driver.find_element(By.ID, "filter").clear()
    driver.find_element(By.ID, "filter").send_keys(" ")
    out["admin_sees"] = cert_names()
    # The cluster tab: instances and events.
    driver.find_element(By.ID, "cluster-tab").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#instance-rows tr"))
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#event-rows tr"))
    out["instances"] = len(driver.find_elements(By.CSS_SELECTOR, "#instance-rows tr"))
    out["events_text"] = driver.find_element(By.ID, "event-rows").text
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#protocol-rows tr"))
    out["protocol_rows"] = {
        row.get_attribute("data-protocol"): row.text
        for row in driver.find_elements(By.CSS_SELECTOR, "#protocol-rows tr")
    }
    driver.find_element(By.CSS_SELECTOR, 'nav button[data-tab="certificates"]').click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "tr[data-cert]"))
    time.sleep(0.5)
    driver.save_screenshot(screenshot)
    collect_console()
    # A tenant sees its own certificates only, and no cluster tab.
    driver.find_element(By.ID, "logout").click()
    log_in(tenant_token)
    out["tenant_sees"] = cert_names()
    # Delete asks for a second click before it acts.
    click('tr[data-cert="ui-tenant"] button[data-action="delete"]')
    time.sleep(0.3)
    out["after_first_delete_click"] = cert_names()
    out["confirm_label"] = text('tr[data-cert="ui-tenant"] button[data-action="delete"]')
    click('tr[data-cert="ui-tenant"] button[data-action="delete"]')
    wait.until(lambda d: "ui-tenant" not in cert_names())
    out["after_confirm"] = cert_names()
    out["tenant_sees_cluster_tab"] = driver.find_element(By.ID, "cluster-tab").is_displayed()
    out["token_in_url"] = tenant_token in driver.current_url or admin_token in driver.current_url
    collect_console()
finally:
    driver.quit()
print(json.dumps(out), flush=True)
