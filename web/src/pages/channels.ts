// Notification channels: list with health, add (email, webhook, PagerDuty, Teams, Opsgenie), test, remove.
import { call, canAdmin, get, SEVERITIES, type List } from "../api";
import { h, clear, time } from "../dom";
import { badge, busy, errorBox, field, loading, notice, select, showError, table } from "../ui";

interface Channel {
    id: string; name: string; kind: "email" | "webhook" | "pagerduty" | "teams" | "opsgenie"; min_severity: string; digest_seconds: number;
    enabled: boolean; settings: Record<string, unknown>; last_sent_at: string | null;
    last_error: string | null; last_error_at: string | null; sent_total: number; failed_total: number;
}

// A queued test send, as GET /api/v1/channels/{id}/tests/{test} tells it.
interface ChannelTest { id: string; state: "pending" | "sent" | "failed"; error?: string; }

// A message for the next drawing of the page (after an add or a removal).
let pending: HTMLElement | null = null;

export async function channelsPage(main: HTMLElement): Promise<void> {
    document.title = "Channels · drift";
    const box = errorBox();
    const status = h("div", { "aria-live": "polite" }, pending);
    pending = null;
    const body = h("div", null, loading());
    clear(main, h("h1", null, "Channels"),
        h("p", null, "Where news of drift is told: one email, webhook or Teams card per report (or per digest window), a PagerDuty or Opsgenie alert per drift that resolves with it, at or above each channel's severity."),
        box, status, body, canAdmin() && addForm(main));
    let list: List<Channel>;
    try {
        list = await get<List<Channel>>("/api/v1/channels", { limit: 200 });
    } catch (e) {
        clear(body);
        showError(box, e);
        return;
    }
    const admin = canAdmin();
    clear(body, table("Channels",
        ["Name", "Kind", "Least severity", "Target", "Health", ...(admin ? ["Actions"] : [])],
        list.items.map((c) => {
            const target = c.kind === "email"
                ? `${(c.settings.to as string[] | undefined)?.join(", ") ?? ""} via ${c.settings.url ?? ""}`
                : c.kind === "webhook" ? `${c.settings.url ?? ""} (${c.settings.format ?? "generic"})`
                : `${c.settings.url ?? ""}`;
            const health = h("div", null,
                c.enabled ? null : h("span", { class: "tag" }, "disabled"),
                `${c.sent_total} sent, ${c.failed_total} failed`,
                c.last_sent_at ? [" · last sent ", time(c.last_sent_at)] : null,
                c.last_error ? h("div", { class: "error-inline" }, "Last error: ", c.last_error, " (", time(c.last_error_at), ")") : null,
                c.digest_seconds ? h("div", null, `digest every ${c.digest_seconds} s`) : null);
            const row = [c.name, c.kind, badge(c.min_severity), target, health];
            if (admin) {
                const testBtn = h("button", { type: "button", "aria-label": `Test ${c.name}` }, "Test");
                const rmBtn = h("button", { type: "button", class: "danger", "aria-label": `Remove ${c.name}` }, "Remove");
                const actions = h("div", { class: "actions" }, testBtn, rmBtn);
                testBtn.addEventListener("click", () => void busy(actions, box, async () => {
                    // The API queues the send (202) and tells how it went when polled.
                    const base = `/api/v1/channels/${encodeURIComponent(c.id)}`;
                    const queued = await call<ChannelTest>("POST", `${base}/test`);
                    clear(status, notice(`Sending a sample notice to ${c.name}…`));
                    let test = queued;
                    for (let i = 0; i < 120 && test?.state === "pending"; i++) {
                        await new Promise((resolve) => setTimeout(resolve, 500));
                        test = await get<ChannelTest>(`${base}/tests/${encodeURIComponent(queued.id)}`);
                    }
                    clear(status, test?.state === "sent"
                        ? notice(`A sample notice was sent to ${c.name}.`)
                        : test?.state === "failed"
                            ? h("div", { class: "error", role: "alert" }, `The sample notice to ${c.name} failed: ${test.error ?? ""}`)
                            : notice(`The sample notice to ${c.name} is still being sent.`));
                }));
                rmBtn.addEventListener("click", () => {
                    if (!confirm(`Remove the channel ${c.name}?`)) return;
                    void busy(actions, box, async () => {
                        await call("DELETE", `/api/v1/channels/${encodeURIComponent(c.id)}`);
                        await channelsPage(main);
                    });
                });
                row.push(actions);
            }
            return row;
        }),
        "No channel yet: drift is only shown here."));
}

function addForm(main: HTMLElement): HTMLElement {
    const box = errorBox();
    const name = h("input", { type: "text", name: "name", required: true, maxlength: 63 });
    const kind = select("kind", [["email", "email (SMTP)"], ["webhook", "webhook"], ["pagerduty", "PagerDuty"],
        ["teams", "Microsoft Teams"], ["opsgenie", "Opsgenie"]], "email");
    const minSev = select("min_severity", [...SEVERITIES].reverse().map((s): [string, string] => [s, s]), "high");
    const digest = h("input", { type: "number", name: "digest_seconds", min: 0, step: 1, value: "0" });
    // email
    const smtpUrl = h("input", { type: "url", name: "smtp_url", placeholder: "smtp://mail.example.com:587" });
    const starttls = h("input", { type: "checkbox", name: "starttls", checked: true });
    const from = h("input", { type: "text", name: "from", placeholder: "drift <drift@example.com>" });
    const to = h("input", { type: "text", name: "to", placeholder: "ops@example.com, oncall@example.com" });
    const username = h("input", { type: "text", name: "username", autocomplete: "off" });
    const password = h("input", { type: "password", name: "password", autocomplete: "new-password" });
    // webhook
    const hookUrl = h("input", { type: "url", name: "webhook_url", placeholder: "https://hooks.example.com/..." });
    const format = select("format", [["generic", "generic JSON"], ["slack", "Slack blocks"]], "generic");
    // PagerDuty, Teams, Opsgenie: a URL (defaulted for PagerDuty and Opsgenie) and a key
    const alertUrl = h("input", { type: "url", name: "alert_url" });
    const alertKey = h("input", { type: "password", name: "alert_key", autocomplete: "off" });
    const alertKeyField = field("Key", alertKey, "stored encrypted, never shown again");

    const emailSet = h("fieldset", null, h("legend", null, "Email"),
        field("SMTP server", smtpUrl, "smtp:// (STARTTLS) or smtps://"),
        h("div", { class: "field check" }, starttls, h("label", { for: (starttls.id = "starttls") }, "STARTTLS on smtp://")),
        field("From", from), field("To", to, "1 to 50 addresses, comma-separated"),
        field("SMTP user (optional)", username),
        field("SMTP password", password, "stored encrypted, never shown again; sent only over TLS"));
    const hookSet = h("fieldset", { hidden: true }, h("legend", null, "Webhook"),
        field("URL", hookUrl), field("Format", format));
    const alertLegend = h("legend", null, "Alerting");
    const alertSet = h("fieldset", { hidden: true }, alertLegend,
        field("Service URL", alertUrl, "PagerDuty and Opsgenie: empty for the service's default"), alertKeyField);
    kind.addEventListener("change", () => {
        emailSet.hidden = kind.value !== "email";
        hookSet.hidden = kind.value !== "webhook";
        alertSet.hidden = !["pagerduty", "teams", "opsgenie"].includes(kind.value);
        alertLegend.textContent = kind.value === "pagerduty" ? "PagerDuty (Events API v2)"
            : kind.value === "opsgenie" ? "Opsgenie (Alerts API)" : "Microsoft Teams (incoming webhook)";
        alertKeyField.hidden = kind.value === "teams";
        alertUrl.placeholder = kind.value === "pagerduty" ? "https://events.pagerduty.com/v2/enqueue"
            : kind.value === "opsgenie" ? "https://api.opsgenie.com" : "https://….webhook.office.com/…";
        alertKey.setAttribute("aria-label", kind.value === "pagerduty" ? "Routing key" : "API key");
    });
    const form = h("form", { class: "card", "aria-labelledby": "add-channel" },
        h("h2", { id: "add-channel" }, "Add a channel"), box,
        field("Name", name), field("Kind", kind), field("Least severity told", minSev),
        field("Digest (seconds, 0 = one message per report)", digest),
        emailSet, hookSet, alertSet,
        h("button", { type: "submit" }, "Add the channel"));
    form.addEventListener("submit", (e) => {
        e.preventDefault();
        void busy(form, box, async () => {
            let settings: Record<string, unknown>;
            if (kind.value === "email") {
                settings = {
                    url: smtpUrl.value.trim(), from: from.value.trim(),
                    to: to.value.split(",").map((s) => s.trim()).filter(Boolean),
                };
                if (smtpUrl.value.trim().startsWith("smtp://")) settings.starttls = starttls.checked;
                if (username.value.trim()) settings.username = username.value.trim();
                if (password.value) settings.password = password.value;
            } else if (kind.value === "webhook") {
                settings = { url: hookUrl.value.trim(), format: format.value };
            } else {
                settings = {};
                if (alertUrl.value.trim()) settings.url = alertUrl.value.trim();
                if (kind.value === "pagerduty") settings.routing_key = alertKey.value.trim();
                if (kind.value === "opsgenie") settings.api_key = alertKey.value.trim();
            }
            const body: Record<string, unknown> = { name: name.value.trim(), kind: kind.value, settings, min_severity: minSev.value };
            const d = Number(digest.value);
            if (d > 0) body.digest_seconds = d;
            const created = await call<{ secret?: string; name?: string }>("POST", "/api/v1/channels", body);
            if (created?.secret) {
                const secret = h("textarea", { readonly: true, rows: 1, "aria-label": "Webhook signing secret" }, created.secret);
                pending = h("div", { class: "warning", role: "alert" },
                    h("strong", null, "The webhook's signing secret, shown once: "),
                    "copy it to the receiver now, it cannot be shown again.", secret);
            } else {
                pending = notice(`Channel ${body.name} added.`);
            }
            await channelsPage(main);
        });
    });
    return form;
}
