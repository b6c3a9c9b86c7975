// tests/browser/dashboard.test.mjs -- the dashboard end to end in headless
// Chromium (Debian's /usr/bin/chromium driven by playwright-core), against
// a live `drift api` and pipeline started by tests/test_browser.sh.
//
// Signs up a new tenant, logs out, is refused with a wrong password (the
// API's message shown), logs in, issues an agent key in the UI (the
// certificate shown once, copied with the copy button), sends
// examples/reports/payments-web.plan.json with `drift-agent send` using that
// certificate, sees the stack's critical badge on the overview, opens the
// drift (before -> after per path), suppresses it with a reason and sees it
// leave the open list; sends more reports (some drift resolves) and checks
// the trend charts of History and of a stack's page against the API, and
// the CSV downloads of History and Drift; asks for a check now on a stack's
// page (issue 19: the command listed, pending); adds a webhook channel, tests it
// (the API's error shown) and removes it. People and machines (issue 21,
// peopleAndMachines below): invites a user, sets their password through
// the link in a second browser context and signs in as them, changes their
// role, makes an API token and uses it with fetch, revokes it, removes the
// user, ends a session of its own and changes its password. The audit log
// (issue 19, auditLog below): every one of those changes and the refused
// login are on the Audit page, and its filters narrow it. Remediation
// (issue 19, remediation below): drift-agent run with the stand-in engine,
// Remediate on the stack's page, the plan reviewed, approval refused to its
// requester while four-eyes is on, approved once it is off, the apply
// followed to succeeded. Screenshots go to ARTIFACTS.
//
// Environment: DRIFT_URL (http://127.0.0.1:PORT), DRIFT_AGENT_BIN,
// DRIFT_FIXTURE, ARTIFACTS, WORK_DIR, DRIFT_FAKE_ENGINE (tests/fixtures/
// fake-terraform), DRIFT_CAPTURES (tests/fixtures/terraform). Exit 0 passed, 1 a check failed,
// 2 Chromium could not start.
import { chromium } from "playwright-core";
import { execFile, spawn } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const env = (name) => {
    const v = process.env[name];
    if (!v) { console.error(`dashboard.test: ${name} is not set`); process.exit(1); }
    return v;
};
const URL_BASE = env("DRIFT_URL");
const AGENT_BIN = env("DRIFT_AGENT_BIN");
const FIXTURE = env("DRIFT_FIXTURE");
const ARTIFACTS = env("ARTIFACTS");
const WORK = env("WORK_DIR");
const FAKE_ENGINE = env("DRIFT_FAKE_ENGINE");
const CAPTURES = env("DRIFT_CAPTURES");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
mkdirSync(ARTIFACTS, { recursive: true });

const suffix = Math.random().toString(36).slice(2, 8);
const TENANT = `e2e-${suffix}`;
const EMAIL = `owner-${suffix}@example.test`;
const PASSWORD = `correct horse ${suffix} battery`;
const STACK = "payments-web";
const ADDRESS = "aws_security_group.web";

function ok(what) { console.log(`ok - ${what}`); }
class Check extends Error {}
function expect(cond, what) { if (!cond) throw new Check(what); }

// The flags this machine needs (docs: the environment notes): no sandbox
// as root, no GPU, and no background networking (its connections would be
// refused by the closed network, many at a time).
const ARGS = [
    "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
];
if (process.getuid && process.getuid() === 0) ARGS.push("--no-sandbox");

let browser;
try {
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS, timeout: 60_000 });
} catch (e) {
    console.error(`dashboard.test: FAIL: Chromium (${CHROMIUM}) could not start: ${e.message}`);
    process.exit(2);
}
console.log(`chromium ${browser.version()} started`);

const pageErrors = [];
const cspViolations = [];
let page;
let failed = false;
try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, baseURL: URL_BASE });
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: URL_BASE });
    page = await context.newPage();
    page.setDefaultTimeout(15_000);
    page.on("pageerror", (e) => pageErrors.push(e.message));
    page.on("console", (m) => {
        if (m.type() !== "error") return;
        console.log(`  [console] ${m.text()}`);
        // The API's Content-Security-Policy must let the dashboard do all it does.
        if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
    });
    page.on("dialog", (d) => d.accept());
    // An error box of the page (role=alert, filled with the API's message).
    const alert = () => page.locator(".error[role=alert]:not([hidden])");

    // --- sign up, log out, a refused login, log in -----------------------------
    const landing = await page.goto("/");
    const csp = landing.headers()["content-security-policy"] ?? "";
    expect(csp.includes("frame-ancestors 'none'"), `the dashboard's CSP: '${csp}'`);
    expect(landing.headers()["x-content-type-options"] === "nosniff", "no X-Content-Type-Options: nosniff");
    await page.waitForURL(/#\/login$/);
    await page.getByRole("heading", { name: "Log in" }).waitFor();
    ok("an anonymous visit lands on the login form");
    await page.getByRole("link", { name: "Sign up" }).click();
    await page.getByLabel("Tenant").fill(TENANT);
    await page.getByLabel("Email").fill(EMAIL);
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Create the tenant" }).click();
    await page.getByRole("heading", { name: "Stacks", exact: true }).waitFor();
    await page.getByText(`${EMAIL} · ${TENANT} · owner`).waitFor();
    ok(`signed up tenant ${TENANT} as ${EMAIL} (owner)`);
    const stored = await page.evaluate(() => sessionStorage.getItem("drift.session"));
    expect(stored && JSON.parse(stored).refresh_token, "the session is not in sessionStorage");
    await page.reload();
    await page.getByRole("heading", { name: "Stacks", exact: true }).waitFor();
    ok("the session survives a reload (sessionStorage)");
    // An access token the API refuses: the first call's 401 makes the app
    // refresh (/api/v1/refresh, the refresh token rotated) and retry.
    const oldRefresh = JSON.parse(stored).refresh_token;
    await page.evaluate(() => {
        const s = JSON.parse(sessionStorage.getItem("drift.session"));
        s.access_token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.e30.invalid";
        sessionStorage.setItem("drift.session", JSON.stringify(s));
    });
    await page.reload();
    await page.getByRole("heading", { name: "Stacks", exact: true }).waitFor();
    await page.locator("main .loading").waitFor({ state: "detached" });
    expect(await alert().count() === 0, `an error after the refresh: ${await alert().allTextContents()}`);
    const rotated = JSON.parse(await page.evaluate(() => sessionStorage.getItem("drift.session")));
    expect(rotated.refresh_token && rotated.refresh_token !== oldRefresh, "the refresh token was not rotated");
    ok("a refused access token is refreshed through /api/v1/refresh (token rotated) and the page loads");

    await page.getByRole("button", { name: "Log out" }).click();
    await page.getByRole("heading", { name: "Log in" }).waitFor();
    expect(await page.evaluate(() => sessionStorage.getItem("drift.session")) === null, "logout left the session stored");
    // The login page may render once more just after logout (the route
    // changes after the session is cleared), emptying a form already filled:
    // then nothing is sent, so fill and send again (at most 3 times).
    for (let attempt = 1; ; attempt++) {
        await page.getByLabel("Email").fill(EMAIL);
        await page.getByLabel("Password").fill(PASSWORD + "x");
        await page.getByRole("button", { name: "Log in" }).click();
        try {
            await alert().getByText(/invalid credentials/i).waitFor({ timeout: 5000 });
            break;
        } catch (error) {
            if (attempt === 3) throw error;
        }
    }
    ok(`a wrong password is refused, the API's message shown: "${(await alert().textContent()).trim()}"`);
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByRole("heading", { name: "Stacks", exact: true }).waitFor();
    ok("logged in");

    // --- issue an agent key -----------------------------------------------------
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Agents" }).click();
    await page.getByRole("heading", { name: "Agents", exact: true }).waitFor();
    await page.getByLabel("Agent name").fill("e2e-agent");
    await page.getByRole("button", { name: "Issue" }).click();
    const cert = page.getByLabel("Certificate");
    await cert.waitFor();
    await page.getByText("This certificate is shown once and never stored.").waitFor();
    const certificate = await cert.inputValue();
    expect(/secret-key/.test(certificate) && /public-key/.test(certificate), `the certificate does not look like one:\n${certificate}`);
    await page.getByRole("button", { name: "Copy the certificate" }).click();
    await page.getByText("Copied.").waitFor();
    const clip = await page.evaluate(() => navigator.clipboard.readText());
    expect(clip === certificate, "the copy button did not copy the certificate");
    const config = await page.locator("pre.config").textContent();
    const endpoint = /^endpoint = (.+)$/m.exec(config)?.[1];
    const serverKey = /^server-key = (.+)$/m.exec(config)?.[1];
    expect(endpoint && serverKey, `no endpoint / server-key in the configuration shown:\n${config}`);
    await page.getByRole("cell", { name: "e2e-agent", exact: true }).waitFor();
    ok(`agent e2e-agent issued in the UI (certificate shown once, copied; endpoint ${endpoint})`);

    // --- a report through the pipeline -------------------------------------------
    mkdirSync(WORK, { recursive: true });
    const certPath = join(WORK, "e2e-agent.cert");
    writeFileSync(certPath, certificate.endsWith("\n") ? certificate : certificate + "\n", { mode: 0o600 });
    chmodSync(certPath, 0o600);
    const confPath = join(WORK, "agent.conf");
    writeFileSync(confPath, `endpoint = ${endpoint}\nserver-key = ${serverKey}\ncertificate = ${certPath}\nspool = ${join(WORK, "spool")}\n`);
    const sent = await run(AGENT_BIN, ["send", "--config", confPath, "--stack", STACK, "--log-level", "warn",
                                       "--timeout-s", "30", FIXTURE]);
    ok(`drift-agent send --stack ${STACK}: ${sent.stdout.trim()}`);

    // --- the overview: the stack with its critical badge ----------------------------
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Stacks" }).click();
    const card = page.locator(`li.stack[data-stack="${STACK}"]`);
    const deadline = Date.now() + 60_000;
    for (;;) {
        await page.getByRole("heading", { name: "Stacks", exact: true }).waitFor();
        await page.locator("main .loading").waitFor({ state: "detached" });
        if (await card.locator('.badge[data-severity="critical"][data-count="1"]').count()) break;
        expect(Date.now() < deadline, `${STACK} with 1 open critical drift not on the overview after 60 s`);
        await page.waitForTimeout(1000);
        await page.reload();
    }
    await page.screenshot({ path: join(ARTIFACTS, "overview.png"), fullPage: true });
    ok(`the overview shows ${STACK} with 1 open critical (screenshot overview.png)`);

    // --- the drift list and the detail -------------------------------------------------
    await card.getByRole("link", { name: STACK }).click();
    await page.getByRole("heading", { name: "Drift", exact: true }).waitFor();
    const row = page.getByRole("row").filter({ has: page.getByRole("link", { name: ADDRESS }) });
    await row.waitFor();
    expect(await row.locator('.badge[data-severity="critical"]').count() === 1, `${ADDRESS} is not shown as critical`);
    ok(`the drift list of ${STACK} shows ${ADDRESS} as critical`);
    await row.getByRole("link", { name: ADDRESS }).click();
    await page.getByRole("heading", { name: "Changes" }).waitFor();
    // An admin may ask for a plan of this resource alone (followed in remediation below).
    await page.getByRole("region", { name: "Remediate" }).getByRole("button", { name: "Revert to the code" }).waitFor();
    const changes = page.locator("table.changes tbody tr");
    const n = await changes.count();
    expect(n > 0, "the detail shows no before/after change");
    const first = changes.first();
    const path = (await first.getAttribute("data-path")) ?? "";
    const before = (await first.locator("td.before").textContent()).trim();
    const after = (await first.locator("td.after").textContent()).trim();
    expect(before !== "" && after !== "", "a change without before or after");
    expect(await page.locator('dd[data-state="open"]').count() === 1, "the item is not open");
    await page.getByRole("heading", { name: "Why it matters" }).waitFor();
    await page.getByRole("heading", { name: "Reports" }).waitFor();
    // The one report sent so far saw it: its sighting is listed.
    await page.getByRole("heading", { name: "Seen in 1 report" }).waitFor();
    await page.locator("table.sightings tbody tr").first().waitFor();
    expect(await page.locator("table.sightings tbody tr").count() === 1, "not one sighting listed");
    await page.screenshot({ path: join(ARTIFACTS, "detail.png"), fullPage: true });
    ok(`the detail shows ${n} change(s), e.g. ${path}: ${before.slice(0, 60)} → ${after.slice(0, 60)} (screenshot detail.png)`);

    // --- suppress it ---------------------------------------------------------------------
    await page.getByLabel("Reason").fill("accepted by the browser test");
    await page.getByRole("button", { name: "Suppress" }).click();
    await page.locator('dd[data-state="suppressed"]').waitFor();
    await page.getByText("accepted by the browser test").waitFor();
    ok("suppressed with a reason: the detail says suppressed, with the reason");
    await page.goto(`/#/drift?stack=${STACK}`);
    await page.getByRole("heading", { name: "Drift", exact: true }).waitFor();
    await page.locator("main .loading").waitFor({ state: "detached" });
    await page.getByText("No open drift matches.").waitFor();
    expect(await page.getByRole("link", { name: ADDRESS }).count() === 0, `${ADDRESS} still in the open list`);
    await page.getByLabel("State").selectOption("suppressed");
    await page.getByRole("button", { name: "Apply" }).click();
    await page.getByRole("link", { name: ADDRESS }).waitFor();
    ok(`${ADDRESS} left the open list and is in the suppressed one`);
    await page.screenshot({ path: join(ARTIFACTS, "suppressed.png"), fullPage: true });

    // --- reports and history -------------------------------------------------------------
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Reports" }).click();
    await page.getByRole("heading", { name: "Reports", exact: true }).waitFor();
    const reportRow = page.getByRole("row").filter({ has: page.getByRole("link", { name: STACK }) });
    await reportRow.first().waitFor();
    expect(await reportRow.locator('[data-status="ok"]').count() >= 1, `no ok report of ${STACK} listed`);
    ok(`the reports page lists ${STACK}'s report as ok (screenshot reports.png)`);
    await page.screenshot({ path: join(ARTIFACTS, "reports.png"), fullPage: true });
    // --- trends and exports (issue 21): charts on History and a stack's page, CSV downloads ---
    // More drift, some of it fixed: receipts-bucket's two high (and one
    // of severity none) open;
    // orders-queue's two low open, then its queue's tags put back (one
    // fixed); payments-web's item fixed (a clean plan).
    const examples = dirname(FIXTURE);
    const orders = JSON.parse(readFileSync(join(examples, "orders-queue.plan.json"), "utf8"));
    orders.resource_drift = orders.resource_drift.filter((r) => r.address !== "aws_sqs_queue.orders");
    const ordersLater = join(WORK, "orders-queue-later.plan.json");
    writeFileSync(ordersLater, JSON.stringify(orders));
    const send = (stack, plan) => run(AGENT_BIN, ["send", "--config", confPath, "--stack", stack,
                                                   "--log-level", "warn", "--timeout-s", "30", plan]);
    const today = new Date().toISOString().slice(0, 10);
    const history = async (query) => page.evaluate(async (q) => {
        const s = JSON.parse(sessionStorage.getItem("drift.session"));
        const res = await fetch(`/api/v1/history?${q}`, { headers: { Authorization: `Bearer ${s.access_token}` } });
        return res.json();
    }, query);
    // The tenant's history once today says opened and resolved (the
    // pipeline archives asynchronously): the later plans are sent only once
    // the earlier ones are in, so none is archived before the one it follows.
    const historyWhen = async (opened, resolved) => {
        for (const until = Date.now() + 60_000; ; await page.waitForTimeout(500)) {
            const h = await history("days=30");
            const last = h.days?.at(-1);
            if (last?.day === today && last.opened === opened && last.resolved === resolved) return h;
            expect(Date.now() < until, `the history does not say ${opened} opened and ${resolved} resolved today after 60 s: ${JSON.stringify(last)}`);
        }
    };
    await send("receipts-bucket", join(examples, "receipts-bucket.plan.json"));
    await send("orders-queue", join(examples, "orders-queue.plan.json"));
    await historyWhen(6, 0);
    await send("orders-queue", ordersLater);
    await send(STACK, join(examples, "clean.plan.json"));
    const tenantWide = await historyWhen(6, 2);
    ok("4 more reports sent (receipts-bucket, orders-queue twice, a clean payments-web): the API says 6 opened, 2 resolved today");

    // A chart's series (data-series) and each one's values (data-value), in order.
    const series = (chart) => page.locator(`figure[data-chart="${chart}"] svg g.series`).evaluateAll((gs) =>
        gs.map((g) => ({ key: g.dataset.series, values: [...g.querySelectorAll("[data-value]")].map((m) => m.dataset.value) })));
    const value = (list, key, i) => list.find((x) => x.key === key)?.values.at(i);
    // The three charts against the API's answer for the same window.
    const checkCharts = async (h, where) => {
        const open = await series("open-by-severity");
        expect(open.length === 6 && open.every((x) => x.values.length === 30),
            `${where}: open-by-severity has ${open.length} series of ${open.map((x) => x.values.length)} points, not 6 of 30`);
        for (const x of open) expect(x.values.every((v, i) => Number(v) === h.days[i].open[x.key]),
            `${where}: open ${x.key} differs from the API`);
        const flow = await series("opened-resolved");
        expect(flow.length === 2 && flow.every((x) => x.values.length === 30), `${where}: opened-resolved is not 2 series of 30 points`);
        expect(flow[0].values.every((v, i) => Number(v) === h.days[i].opened)
            && flow[1].values.every((v, i) => Number(v) === h.days[i].resolved), `${where}: opened/resolved differ from the API`);
        const fix = await series("time-to-fix");
        expect(fix.length === 1 && fix[0].values.length === h.weeks.length && h.weeks.length >= 5,
            `${where}: time-to-fix has ${fix[0]?.values.length} points for ${h.weeks.length} weeks`);
        expect(Number(fix[0].values.at(-1)) === h.weeks.at(-1).p50_s && h.weeks.at(-1).fixed >= 1,
            `${where}: this week's median time to fix is not the API's`);
        const tips = await page.locator("figure.chart svg title").count();
        expect(tips === 6 * 30 + 2 * 30 + h.weeks.length, `${where}: ${tips} tooltips, not one per bar and point`);
        return { open, flow, fix };
    };

    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "History" }).click();
    await page.getByRole("heading", { name: "Opened and resolved per day, newest first" }).waitFor();
    await page.locator('figure[data-chart="open-by-severity"] svg').waitFor();
    const drawn = await checkCharts(tenantWide, "History");
    expect(value(drawn.open, "high", -1) === "2" && value(drawn.open, "low", -1) === "1" && value(drawn.open, "critical", -1) === "0",
        `History: today's open drift is not 2 high and 1 low: ${JSON.stringify(drawn.open.map((x) => [x.key, x.values.at(-1)]))}`);
    expect(value(drawn.flow, "opened", -1) === "6" && value(drawn.flow, "resolved", -1) === "2", "History: today is not 6 opened, 2 resolved");
    for (const name of ["Open drift by severity, at the end of each day", "Drift opened and resolved per day", "Median time to fix, per week (from Monday)"])
        await page.getByRole("figure", { name }).waitFor();
    expect(await page.locator(`figure[data-chart="open-by-severity"] .legend li`).count() === 6, "the severity chart's legend is not 6 entries");
    expect(await page.locator(`tr[data-day="${today}"] td .count`).first().textContent() === "6", "today's row does not say 6 opened");
    await page.locator("dl.facts[data-fixed=\"2\"]").waitFor();
    await page.screenshot({ path: join(ARTIFACTS, "history.png"), fullPage: true });
    ok("History: 3 charts (6 severities x 30 days, opened and resolved x 30 days, a median per week) as the API counts, legends, a tooltip per point (screenshot history.png)");

    // A CSV download: the file is saved under the API's name and parses.
    const parseCsv = (text) => {
        const records = [];
        let record = [], field = "", quoted = false;
        for (let i = 0; i < text.length; i++) {
            const c = text[i];
            if (quoted) {
                if (c === '"' && text[i + 1] === '"') { field += '"'; i++; }
                else if (c === '"') quoted = false;
                else field += c;
            } else if (c === '"' && field === "") quoted = true;
            else if (c === ",") { record.push(field); field = ""; }
            else if (c === "\r" && text[i + 1] === "\n") { record.push(field); records.push(record); record = []; field = ""; i++; }
            else { expect(c !== '"' && c !== "\n", `a stray quote or LF in the CSV at ${i}`); field += c; }
        }
        expect(!quoted && record.length === 0 && field === "", "the CSV does not end with a whole record");
        return records;
    };
    const download = async (what) => {
        const [file] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Download CSV" }).click()]);
        const path = join(WORK, file.suggestedFilename());
        await file.saveAs(path);
        expect(file.suggestedFilename() === `${what}-${today}.csv`, `the ${what} download is named ${file.suggestedFilename()}`);
        return parseCsv(readFileSync(path, "utf8"));
    };
    const days = await download("history");
    expect(days.length === 31 && days[0].join(",") === "day,opened,resolved,open_critical,open_high,open_medium,open_low,open_info,open_none",
        `the history CSV: ${days.length} records, header ${days[0]}`);
    expect(days[30][0] === today && days[30][1] === "6" && days[30][2] === "2" && days[30][4] === "2", `the CSV's today: ${days[30]}`);
    ok(`History's Download CSV saved history-${today}.csv: a header and 30 days, today 6 opened, 2 resolved, 2 high open`);

    // A stack's page: orders-queue's own charts.
    const trendsOf = async (stack) => {
        await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Stacks" }).click();
        await page.locator(`li.stack[data-stack="${stack}"]`).getByRole("link", { name: "trends", exact: true }).click();
        await page.getByRole("heading", { name: new RegExp(`^${stack}`) }).waitFor();
        await page.locator('figure[data-chart="opened-resolved"]').waitFor();
        return decodeURIComponent(/#\/stacks\/([^?]+)/.exec(page.url())[1]);
    };
    const ordersId = await trendsOf("orders-queue");
    const own = await checkCharts(await history(`days=30&stack=${ordersId}`), "orders-queue's page");
    expect(value(own.open, "low", -1) === "1" && value(own.flow, "opened", -1) === "2" && value(own.flow, "resolved", -1) === "1",
        "orders-queue's page: today is not 2 opened, 1 resolved, 1 low open");
    await page.screenshot({ path: join(ARTIFACTS, "stack.png"), fullPage: true });
    ok("orders-queue's page: its own charts (2 opened, 1 fixed, 1 low open today; its median time to fix this week) (screenshot stack.png)");
    // payments-web has nothing open in the window: that chart says so.
    await trendsOf(STACK);
    await page.locator('figure[data-chart="open-by-severity"][data-empty="true"]').getByText("No drift was open in this window.").waitFor();
    expect(await page.locator('figure[data-chart="open-by-severity"] svg').count() === 0, "an empty chart drawn");
    ok(`${STACK}'s page: no open drift in the window, said instead of an empty chart`);
    // Check now (issue 19): the button asks the agent that reported the
    // stack for a check. Only `drift-agent send` ran here, no daemon takes
    // commands, so the command waits in the stack's list, pending.
    await page.getByRole("button", { name: "Check now" }).click();
    const commandsTable = page.getByRole("table", { name: "Commands of this stack" });
    await commandsTable.locator("tbody tr").filter({ hasText: "pending" }).waitFor();
    const asked = await page.evaluate(async (stack) => {
        const s = JSON.parse(sessionStorage.getItem("drift.session"));
        const res = await fetch(`/api/v1/commands?stack=${stack}`, { headers: { Authorization: `Bearer ${s.access_token}` } });
        return res.json();
    }, STACK);
    expect(asked.items?.length === 1 && asked.items[0].kind === "check" && asked.items[0].state === "pending"
        && asked.items[0].stack === STACK, `the API's commands of ${STACK}: ${JSON.stringify(asked.items)}`);
    ok(`${STACK}'s Check now: a check command for its agent, pending in the stack's Commands list and the API`);

    await page.goto("/#/drift?state=all");
    await page.getByRole("heading", { name: "Drift", exact: true }).waitFor();
    await page.locator("main .loading").waitFor({ state: "detached" });
    const listed = await page.locator("a.address").count();
    const items = await download("drift");
    expect(items.length === 1 + listed && items[0][0] === "id" && items[0].length === 14, `the drift CSV: ${items.length} records for ${listed} listed`);
    const ours = items.find((r) => r[4] === ADDRESS);
    expect(ours && ours[2] === STACK && ours[10] === "resolved", `the drift CSV's ${ADDRESS}: ${ours}`);
    ok(`Drift's Download CSV saved drift-${today}.csv: every item of the list (${listed}), ${ADDRESS} resolved`);

    // --- a channel: add, test (the API's error shown), remove ----------------------------
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Channels" }).click();
    await page.getByRole("heading", { name: "Channels", exact: true }).waitFor();
    await page.getByLabel("Name", { exact: true }).fill("e2e-hook");
    await page.getByLabel("Kind", { exact: true }).selectOption("webhook");
    await page.getByLabel("URL", { exact: true }).fill("http://127.0.0.1:9/drift");
    await page.getByRole("button", { name: "Add the channel" }).click();
    const hookRow = page.getByRole("row").filter({ has: page.getByRole("cell", { name: "e2e-hook", exact: true }) });
    await hookRow.waitFor();
    await page.getByText("The webhook's signing secret, shown once").waitFor();
    ok("webhook channel e2e-hook added, its secret shown once");
    await hookRow.getByRole("button", { name: "Test e2e-hook" }).click();
    await alert().waitFor({ timeout: 30_000 });
    ok(`its test fails (nothing listens) and the API's error is shown: "${(await alert().first().textContent()).trim().slice(0, 120)}"`);
    await hookRow.getByRole("button", { name: "Remove e2e-hook" }).click();
    await hookRow.waitFor({ state: "detached" });
    ok("the channel removed");
    await page.screenshot({ path: join(ARTIFACTS, "channels.png"), fullPage: true });

    await remediation(page, alert, confPath);
    await peopleAndMachines(page, alert);
    await auditLog(page);

    expect(pageErrors.length === 0, `errors in the page: ${pageErrors.join("; ")}`);
    ok("no script error in the page");
    expect(cspViolations.length === 0,
        `${cspViolations.length} Content-Security-Policy violation(s), the first: ${cspViolations[0]}`);
    ok("the dashboard works under its Content-Security-Policy");
} catch (e) {
    failed = true;
    console.error(`not ok - ${e instanceof Check ? e.message : e.stack ?? e}`);
    if (page) {
        try {
            await page.screenshot({ path: join(ARTIFACTS, "failure.png"), fullPage: true });
            console.error(`  at ${page.url()}; screenshot failure.png; the page said:\n` +
                (await page.locator("main").innerText()).split("\n").slice(0, 40).map((l) => "  | " + l).join("\n"));
        } catch { /* the page is gone */ }
    }
    if (pageErrors.length) console.error(`  errors in the page: ${pageErrors.join("; ")}`);
} finally {
    await browser.close();
}
console.log(failed ? "dashboard.test: FAILED" : "dashboard.test: passed");
process.exit(failed ? 1 : 0);

// --- remediation (issue 19) ----------------------------------------------------
// drift-agent run beside STACK, the stand-in engine replaying scenario-02 and,
// after an apply, the clean scenario-08; remediation on for STACK.
async function remediation(page, alert, confPath) {
    const stackDir = join(WORK, "stack");
    mkdirSync(stackDir, { recursive: true });
    const agent = spawn(AGENT_BIN, ["run", "--config", confPath, "--stacks", `${STACK}=${stackDir}:3600`,
                                    "--engine", FAKE_ENGINE, "--remediation", STACK, "--log-level", "warn"], {
        env: { ...process.env, FAKE_TF_SCENARIO: join(CAPTURES, "scenario-02"),
               FAKE_TF_STATE: join(WORK, "engine.state"), FAKE_TF_AFTER_APPLY: join(CAPTURES, "scenario-08") },
        stdio: ["ignore", "inherit", "inherit"],
    });
    try {
        await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Stacks" }).click();
        await page.locator(`li.stack[data-stack="${STACK}"]`).getByRole("link", { name: "trends", exact: true }).click();
        await page.getByRole("button", { name: "Remediate", exact: true }).click();
        await page.getByRole("heading", { name: "Remediation plan" }).waitFor();
        const approve = page.getByRole("button", { name: "Approve and apply" });
        await approve.waitFor({ timeout: 60_000 });
        const reviewed = await page.locator("section[data-address]").count();
        expect(reviewed > 0 && await page.locator("section[data-address] table.changes tbody tr").count() > 0,
            "the plan's review shows no resource with before -> after");
        ok(`Remediate: the agent made the plan, its review shows ${reviewed} resource(s) before -> after`);
        await approve.click();
        await alert().filter({ hasText: "four-eyes" }).waitFor();
        ok("approving one's own plan is refused while four-eyes is on (the API's 403 shown)");
        const status = await page.evaluate(async () => {
            const s = JSON.parse(sessionStorage.getItem("drift.session") ?? "null");
            return (await fetch("/api/v1/settings/remediation", { method: "PUT",
                headers: { Authorization: `Bearer ${s?.access_token}`, "Content-Type": "application/json" },
                body: JSON.stringify({ four_eyes: false }) })).status;
        });
        expect(status === 200, `turning four-eyes off answered ${status}`);
        await approve.click();
        await page.getByRole("heading", { name: "Apply", exact: true }).waitFor();
        await page.locator("#command-state", { hasText: "succeeded" }).waitFor({ timeout: 60_000 });
        await page.locator("#command-report").waitFor();
        await page.getByText("Apply complete!").waitFor();
        await page.screenshot({ path: join(ARTIFACTS, "remediation.png"), fullPage: true });
        ok("approved, applied: the apply succeeded with its output and the report of the check after it (screenshot remediation.png)");
    } finally {
        agent.kill("SIGTERM");
    }
}

// --- people and machines (issue 21) -------------------------------------------
// page is the owner's, signed in; alert the page's error box.
async function peopleAndMachines(page, alert) {
    const nav = (name) => page.getByRole("navigation", { name: "Main" }).getByRole("link", { name });
    const INVITEE = `invitee-${suffix}@example.test`;
    const INVITEE_PASSWORD = `invited ${suffix} password`;
    const NEW_PASSWORD = `changed ${suffix} password`;

    // Invite: the set-password link shown once.
    await nav("Users").click();
    await page.getByRole("heading", { name: "Users", exact: true }).waitFor();
    await page.getByLabel("Email", { exact: true }).fill(INVITEE);
    await page.getByLabel("Role", { exact: true }).selectOption("viewer");
    await page.getByRole("button", { name: "Invite", exact: true }).click();
    const linkField = page.getByLabel("Set-password link", { exact: true });
    await linkField.waitFor();
    await page.getByText("This set-password link is shown once and never again.").waitFor();
    const link = await linkField.inputValue();
    expect(link.includes("#/set-password/"), `not a set-password link: ${link}`);
    const inviteeRow = page.getByRole("row").filter({ has: page.getByRole("cell", { name: INVITEE, exact: true }) });
    await inviteeRow.waitFor();
    await page.screenshot({ path: join(ARTIFACTS, "users.png"), fullPage: true });
    ok(`invited ${INVITEE} as viewer; the set-password link shown once (screenshot users.png)`);

    // The invitee, in a browser of their own: set the password, log in.
    const other = await browser.newContext({ viewport: { width: 1280, height: 900 }, baseURL: URL_BASE });
    const them = await other.newPage();
    them.setDefaultTimeout(15_000);
    them.on("pageerror", (e) => pageErrors.push(`(second context) ${e.message}`));
    await them.goto(link);
    await them.getByRole("heading", { name: "Set your password" }).waitFor();
    await them.getByLabel("New password", { exact: true }).fill(INVITEE_PASSWORD);
    await them.getByRole("button", { name: "Set the password" }).click();
    await them.getByRole("heading", { name: "Password set" }).waitFor();
    await them.getByRole("link", { name: "Log in" }).click();
    await them.getByLabel("Email", { exact: true }).fill(INVITEE);
    await them.getByLabel("Password", { exact: true }).fill(INVITEE_PASSWORD);
    await them.getByRole("button", { name: "Log in" }).click();
    await them.getByText(`${INVITEE} · ${TENANT} · viewer`).waitFor();
    ok("the invitee set a password through the link in a second browser context and signed in");
    await them.goto(link);
    await them.getByLabel("New password", { exact: true }).fill("a second try at it");
    await them.getByRole("button", { name: "Set the password" }).click();
    await them.locator(".error[role=alert]:not([hidden])").getByText(/not valid/).waitFor();
    ok("the link works once: opened again it is refused");
    const theirRole = async () => them.evaluate(async () => {
        const s = JSON.parse(sessionStorage.getItem("drift.session") ?? "null");
        const res = await fetch("/api/v1/me", { headers: { Authorization: `Bearer ${s?.access_token}` } });
        return res.ok ? (await res.json()).user.role : `HTTP ${res.status}`;
    });

    // The owner changes their role; the API says so at their next request.
    await inviteeRow.getByLabel(`Role of ${INVITEE}`, { exact: true }).selectOption("admin");
    await inviteeRow.getByRole("button", { name: `Change the role of ${INVITEE}` }).click();
    await page.getByRole("row").filter({ has: page.getByRole("cell", { name: INVITEE, exact: true }) })
        .getByRole("cell", { name: "admin", exact: true }).waitFor();
    expect(await theirRole() === "admin", `the invitee's role is ${await theirRole()}, not admin`);
    ok("the owner made the invitee an admin; their next request is an admin's");

    // An API token: made in the UI, shown once, used from here with fetch.
    await nav("Tokens").click();
    await page.getByRole("heading", { name: "API tokens", exact: true }).waitFor();
    await page.getByLabel("Token name", { exact: true }).fill("e2e-ci");
    await page.getByLabel("Token role", { exact: true }).selectOption("viewer");
    await page.getByRole("button", { name: "Make the token" }).click();
    const tokenField = page.getByLabel("Token", { exact: true });
    await tokenField.waitFor();
    const token = await tokenField.inputValue();
    expect(token.startsWith("drift_pat_"), `not an API token: ${token.slice(0, 12)}…`);
    const use = (path, init = {}) => fetch(URL_BASE + path, { ...init, headers: { Authorization: `Bearer ${token}`, ...(init.headers ?? {}) } });
    const stacks = await use("/api/v1/stacks");
    expect(stacks.status === 200, `GET /api/v1/stacks with the token: ${stacks.status}`);
    const names = (await stacks.json()).items.map((x) => x.name);
    expect(names.includes(STACK), `the token's stacks: ${names.join(", ")}`);
    const write = await use("/api/v1/suppressions", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ pattern: "aws_instance.*", reason: "viewer token" }) });
    expect(write.status === 403, `a viewer token wrote: ${write.status}`);
    await page.reload();
    const tokenRow = page.getByRole("row").filter({ has: page.getByRole("cell", { name: "e2e-ci", exact: true }) });
    await tokenRow.waitFor();
    expect(!/—/.test(await tokenRow.locator("td").nth(5).innerText()), "the token's last use is not shown");
    await page.screenshot({ path: join(ARTIFACTS, "tokens.png"), fullPage: true });
    ok(`API token e2e-ci made in the UI and used with fetch: ${names.length} stack(s) read, a write refused (403), its last use shown (screenshot tokens.png)`);
    await tokenRow.getByRole("button", { name: "Revoke e2e-ci" }).click();
    await tokenRow.getByText("revoked").waitFor();
    const revoked = await use("/api/v1/stacks");
    expect(revoked.status === 401, `the revoked token: ${revoked.status}`);
    ok("the token revoked in the UI is refused at once (401)");

    // Remove the invitee: their session ends.
    await nav("Users").click();
    const gone = page.getByRole("row").filter({ has: page.getByRole("cell", { name: INVITEE, exact: true }) });
    await gone.getByRole("button", { name: `Remove ${INVITEE}` }).click();
    await gone.waitFor({ state: "detached" });
    expect(await theirRole() === "HTTP 401", `the removed user's session: ${await theirRole()}`);
    ok("the invitee removed; their session is refused");

    // A second session of the owner, ended from the account page.
    await other.close();
    const second = await browser.newContext({ viewport: { width: 1280, height: 900 }, baseURL: URL_BASE });
    const again = await second.newPage();
    again.setDefaultTimeout(15_000);
    await again.goto("/#/login");
    await again.getByLabel("Email", { exact: true }).fill(EMAIL);
    await again.getByLabel("Password", { exact: true }).fill(PASSWORD);
    await again.getByRole("button", { name: "Log in" }).click();
    await again.getByText(`${EMAIL} · ${TENANT} · owner`).waitFor();
    await page.getByRole("link", { name: `${EMAIL} · ${TENANT} · owner` }).click();
    await page.getByRole("heading", { name: "Your account" }).waitFor();
    await page.locator("main .loading").waitFor({ state: "detached" });
    const ends = page.getByRole("button", { name: /^End the session signed in at / });
    expect(await ends.count() >= 1, "the second session is not listed");
    await ends.first().click();
    await page.getByText("The session was ended.").waitFor();
    const ended = await again.evaluate(async () => {
        const s = JSON.parse(sessionStorage.getItem("drift.session") ?? "null");
        return (await fetch("/api/v1/me", { headers: { Authorization: `Bearer ${s?.access_token}` } })).status;
    });
    expect(ended === 401, `the ended session: HTTP ${ended}`);
    ok("the owner ended their other session from the account page; it is refused");
    await second.close();

    // Change the own password: this session stays, the new password logs in.
    await page.getByLabel("Current password", { exact: true }).fill(PASSWORD + "x");
    await page.getByLabel("New password", { exact: true }).fill(NEW_PASSWORD);
    await page.getByRole("button", { name: "Change the password" }).click();
    await alert().getByText(/current password is not right/).waitFor();
    await page.getByLabel("Current password", { exact: true }).fill(PASSWORD);
    await page.getByLabel("New password", { exact: true }).fill(NEW_PASSWORD);
    await page.getByRole("button", { name: "Change the password" }).click();
    await page.getByText("Your password was changed; your other sessions were ended.").waitFor();
    await page.getByRole("button", { name: "Log out" }).click();
    await page.getByLabel("Email", { exact: true }).fill(EMAIL);
    await page.getByLabel("Password", { exact: true }).fill(NEW_PASSWORD);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByRole("heading", { name: "Stacks", exact: true }).waitFor();
    ok("the owner changed their password (a wrong current one refused) and logged in with the new one");
}

// --- the audit log (issue 19) ---------------------------------------------------
// page is the owner's, signed in, after everything above.
async function auditLog(page) {
    const nav = (name) => page.getByRole("navigation", { name: "Main" }).getByRole("link", { name });
    await nav("Audit").click();
    await page.getByRole("heading", { name: "Audit log", exact: true }).waitFor();
    await page.locator("main .loading").waitFor({ state: "detached" });
    const actions = async () => page.locator("main table code[data-action]").allInnerTexts();
    const seen = await actions();
    for (const action of ["login.failure", "login.success", "logout", "agent_key.issue", "drift.suppress",
        "channel.create", "channel.delete", "user.invite", "password.set", "user.change", "token.create",
        "token.revoke", "user.remove", "session.revoke", "password.change"]) {
        expect(seen.includes(action), `no ${action} entry on the Audit page (saw ${[...new Set(seen)].join(", ")})`);
    }
    await page.screenshot({ path: join(ARTIFACTS, "audit.png"), fullPage: true });
    ok(`the Audit page lists every change made above and the refused login: ${seen.length} entries (screenshot audit.png)`);

    await page.getByLabel("Action", { exact: true }).selectOption("token");
    await page.getByRole("button", { name: "Apply" }).click();
    await page.waitForURL(/#\/audit\?action=token/);
    await page.locator("main .loading").waitFor({ state: "detached" });
    const tokens = await actions();
    expect(tokens.length === 2 && tokens.every((a) => a.startsWith("token.")), `filtered to tokens: ${tokens.join(", ")}`);
    await page.getByLabel("Action", { exact: true }).selectOption("login.failure");
    await page.getByRole("button", { name: "Apply" }).click();
    await page.waitForURL(/#\/audit\?action=login.failure/);
    await page.locator("main .loading").waitFor({ state: "detached" });
    const failure = page.getByRole("row").filter({ has: page.getByRole("cell", { name: EMAIL, exact: true }) });
    expect(await failure.count() >= 1, "the refused login's row does not name the address tried");
    ok("the Audit page's filters narrow it: the two token entries, the refused login with the address tried");
}
