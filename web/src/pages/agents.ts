// Agents: list, issue (the certificate shown once, with a copy button and
// a warning), revoke.
import { call, canAdmin, get, type List } from "../api";
import { h, clear, time } from "../dom";
import { busy, copy, errorBox, field, loading, notice, showError, table } from "../ui";

interface Agent { id: string; name: string; public_key: string; created_at: string; revoked_at: string | null }
interface Issued {
    agent: Agent; certificate: string;
    configuration: { endpoint: string; server_key: string };
}

// What was just issued, shown once after the page is drawn again.
let justIssued: Issued | null = null;

export async function agentsPage(main: HTMLElement): Promise<void> {
    document.title = "Agents · drift";
    const box = errorBox();
    const issued = h("div", { "aria-live": "polite" });
    if (justIssued) {
        showIssued(issued, justIssued);
        justIssued = null;
    }
    const body = h("div", null, loading());
    clear(main, h("h1", null, "Agents"),
        h("p", null, "Each drift-agent authenticates with its own key (CurveZMQ). Revoking a key cuts its agent off within about a second."),
        box, issued, canAdmin() && issueForm(main), body);
    let list: List<Agent>;
    try {
        list = await get<List<Agent>>("/api/v1/agents", { limit: 200 });
    } catch (e) {
        clear(body);
        showError(box, e);
        return;
    }
    const admin = canAdmin();
    clear(body, h("h2", null, "Keys"), table("Agent keys",
        ["Name", "Public key", "Issued", "State", ...(admin ? ["Actions"] : [])],
        list.items.map((a) => {
            const row = [
                a.name, h("code", { class: "key" }, a.public_key), time(a.created_at),
                a.revoked_at ? h("span", null, "revoked ", time(a.revoked_at)) : h("span", { class: "tag ok" }, "active"),
            ];
            if (admin) {
                if (a.revoked_at) row.push("");
                else {
                    const btn = h("button", { type: "button", class: "danger", "aria-label": `Revoke ${a.name}` }, "Revoke");
                    const wrap = h("div", { class: "actions" }, btn);
                    btn.addEventListener("click", () => {
                        if (!confirm(`Revoke the key of ${a.name}? Its agent can no longer send reports.`)) return;
                        void busy(wrap, box, async () => {
                            await call("DELETE", `/api/v1/agents/${encodeURIComponent(a.id)}`);
                            await agentsPage(main);
                        });
                    });
                    row.push(wrap);
                }
            }
            return row;
        }),
        "No agent yet."));
}

function issueForm(main: HTMLElement): HTMLElement {
    const box = errorBox();
    const name = h("input", { type: "text", name: "name", required: true, maxlength: 63, pattern: "[a-z0-9][a-z0-9\\-]{0,62}" });
    const form = h("form", { class: "card", "aria-labelledby": "issue-title" },
        h("h2", { id: "issue-title" }, "Issue a key"), box,
        field("Agent name", name, "1 to 63 of a-z, 0-9 and '-', e.g. web-prod"),
        h("button", { type: "submit" }, "Issue"));
    form.addEventListener("submit", (e) => {
        e.preventDefault();
        void busy(form, box, async () => {
            justIssued = await call<Issued>("POST", "/api/v1/agents", { name: name.value.trim() });
            await agentsPage(main);
        });
    });
    return form;
}

function showIssued(where: HTMLElement, r: Issued): void {
    const cert = h("textarea", {
        readonly: true, rows: 8, class: "certificate", id: "certificate", spellcheck: "false",
    }, r.certificate);
    const config = [
        `endpoint = ${r.configuration.endpoint}`,
        `server-key = ${r.configuration.server_key}`,
        `certificate = /etc/drift-agent/${r.agent.name}.cert`,
    ].join("\n");
    const copied = h("span", { role: "status", class: "copied" });
    const copyBtn = h("button", { type: "button" }, "Copy the certificate");
    copyBtn.addEventListener("click", async () => {
        copied.textContent = (await copy(r.certificate, cert)) ? "Copied." : "Copy failed: select the text and copy it by hand.";
    });
    clear(where, h("section", { class: "warning issued", role: "alert", "aria-labelledby": "issued-title" },
        h("h2", { id: "issued-title" }, `Agent ${r.agent.name} issued`),
        h("p", null, h("strong", null, "This certificate is shown once and never stored."),
            " It holds the agent's secret key: copy it now to the agent host over a secure channel, as ",
            h("code", null, `${r.agent.name}.cert`), " (mode 0600). Anyone who has it can send reports as this agent."),
        h("label", { for: "certificate" }, "Certificate"), cert,
        h("div", { class: "actions" }, copyBtn, copied),
        h("p", null, "The agent's configuration:"),
        h("pre", { class: "config" }, config),
        h("button", { type: "button", onclick: () => { clear(where, notice("The certificate was dismissed.")); } },
            "I have saved it")));
}
