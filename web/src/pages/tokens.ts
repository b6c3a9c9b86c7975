// API tokens (issue 21): an admin makes named tokens for CI jobs and
// scripts (viewer or admin, an optional expiry; the token shown once),
// sees when each was last used, and revokes them.
import { call, get, type List } from "../api";
import { h, clear, time } from "../dom";
import { busy, errorBox, field, loading, select, showError, table } from "../ui";
import { showOnce } from "../once";

interface Token {
    id: string; name: string; role: string; created_by: string; created_at: string;
    expires_at: string | null; last_used_at: string | null; revoked_at: string | null;
}
interface Made { token: Token; secret: string }

let justMade: Made | null = null;

export async function tokensPage(main: HTMLElement): Promise<void> {
    document.title = "API tokens · drift";
    const box = errorBox();
    const made = h("div", { "aria-live": "polite" });
    if (justMade) {
        showOnce(made, `Token ${justMade.token.name} made`, "Token", justMade.secret,
            "Store it in your CI's secrets and send it as the header Authorization: Bearer TOKEN to /api/v1.");
        justMade = null;
    }
    const body = h("div", null, loading());
    clear(main, h("h1", null, "API tokens"),
        h("p", null, "Tokens let CI jobs and scripts use the API without a person's password. A token never does more than its role, nor more than the person who made it may do now; it cannot manage users or tokens."),
        box, made, createForm(main), body);
    let list: List<Token>;
    try {
        list = await get<List<Token>>("/api/v1/tokens", { limit: 200 });
    } catch (e) {
        clear(body);
        showError(box, e);
        return;
    }
    const now = Date.now();
    clear(body, table("API tokens", ["Name", "Role", "Made by", "Made", "Expires", "Last used", "State", "Actions"],
        list.items.map((t) => {
            const expired = t.expires_at !== null && Date.parse(t.expires_at) <= now;
            const state = t.revoked_at ? h("span", null, "revoked ", time(t.revoked_at))
                : expired ? h("span", null, "expired") : h("span", { class: "tag ok" }, "live");
            let actions: Node | string = "";
            if (!t.revoked_at) {
                const btn = h("button", { type: "button", class: "danger", "aria-label": `Revoke ${t.name}` }, "Revoke");
                const wrap = h("div", { class: "actions" }, btn);
                btn.addEventListener("click", () => {
                    if (!confirm(`Revoke the token ${t.name}? What uses it is refused at once.`)) return;
                    void busy(wrap, box, async () => {
                        await call("DELETE", `/api/v1/tokens/${encodeURIComponent(t.id)}`);
                        await tokensPage(main);
                    });
                });
                actions = wrap;
            }
            return [t.name, t.role, t.created_by, time(t.created_at), time(t.expires_at), time(t.last_used_at), state, actions];
        }),
        "No token yet."));
}

function createForm(main: HTMLElement): HTMLElement {
    const box = errorBox();
    const name = h("input", { type: "text", name: "name", required: true, maxlength: 63, pattern: "[a-z0-9][a-z0-9._\\-]{0,62}" });
    const role = select("role", [["viewer", "viewer (read)"], ["admin", "admin (read and write)"]], "viewer");
    const expires = h("input", { type: "date", name: "expires" });
    const form = h("form", { class: "card", "aria-labelledby": "token-title" },
        h("h2", { id: "token-title" }, "Make a token"), box,
        field("Token name", name, "1 to 63 of a-z, 0-9, '.', '_' and '-', e.g. github-nightly"),
        field("Token role", role),
        field("Expires on", expires, "optional: the token stops at the start of this day (UTC)"),
        h("button", { type: "submit" }, "Make the token"));
    form.addEventListener("submit", (e) => {
        e.preventDefault();
        void busy(form, box, async () => {
            const body: Record<string, string> = { name: name.value.trim(), role: role.value };
            if (expires.value) body.expires_at = `${expires.value}T00:00:00Z`;
            justMade = await call<Made>("POST", "/api/v1/tokens", body);
            await tokensPage(main);
        });
    });
    return form;
}
