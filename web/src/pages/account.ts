// The signed-in user's own account (issue 21): change the password (the
// current one required; every other session ends) and see and end their
// sessions. Also the public set-password page an invitation links to.
import { call, callPublic, get, type List } from "../api";
import { h, clear, time } from "../dom";
import { busy, errorBox, field, loading, notice, showError, table } from "../ui";
import type { Route } from "../main";

interface SessionRow { id: string; created_at: string; last_used_at: string; expires_at: string; current: boolean }

let pending: HTMLElement | null = null;

export async function accountPage(main: HTMLElement): Promise<void> {
    document.title = "Your account · drift";
    const box = errorBox();
    const status = h("div", { "aria-live": "polite" }, pending);
    pending = null;
    const body = h("div", null, loading());
    clear(main, h("h1", null, "Your account"), status, passwordForm(main), h("h2", null, "Sessions"),
        h("p", null, "Each browser you signed in with. Ending one signs it out at its next request."), box, body);
    let list: List<SessionRow>;
    try {
        list = await get<List<SessionRow>>("/api/v1/me/sessions", { limit: 200 });
    } catch (e) {
        clear(body);
        showError(box, e);
        return;
    }
    clear(body, table("Sessions", ["Signed in", "Last used", "Expires", "Actions"],
        list.items.map((s) => {
            const btn = h("button", {
                type: "button", class: "danger",
                "aria-label": s.current ? "Sign out here (this session)" : `End the session signed in at ${s.created_at}`,
            }, s.current ? "Sign out here" : "End");
            const wrap = h("div", { class: "actions" }, s.current ? h("span", { class: "tag ok" }, "this browser") : null, btn);
            btn.addEventListener("click", () => void busy(wrap, box, async () => {
                await call("DELETE", `/api/v1/me/sessions/${encodeURIComponent(s.id)}`);
                pending = notice("The session was ended.");
                await accountPage(main);
            }));
            return [time(s.created_at), time(s.last_used_at), time(s.expires_at), wrap];
        }),
        "No session."));
}

function passwordForm(main: HTMLElement): HTMLElement {
    const box = errorBox();
    const current = h("input", { type: "password", name: "current-password", autocomplete: "current-password", required: true });
    const next = h("input", { type: "password", name: "new-password", autocomplete: "new-password", required: true, minlength: 12, maxlength: 256 });
    const form = h("form", { class: "card", "aria-labelledby": "password-title" },
        h("h2", { id: "password-title" }, "Change your password"), box,
        field("Current password", current),
        field("New password", next, "12 to 256 characters; your other sessions end"),
        h("button", { type: "submit" }, "Change the password"));
    form.addEventListener("submit", (e) => {
        e.preventDefault();
        void busy(form, box, async () => {
            await call("POST", "/api/v1/me/password", { current_password: current.value, password: next.value });
            pending = notice("Your password was changed; your other sessions were ended.");
            await accountPage(main);
        });
    });
    return form;
}

export function setPasswordPage(main: HTMLElement, route: Route): void {
    document.title = "Set your password · drift";
    const token = route.path[1] ?? "";
    const password = h("input", { type: "password", name: "password", autocomplete: "new-password", required: true, minlength: 12, maxlength: 256 });
    const box = errorBox();
    const form = h("form", { class: "card narrow", "aria-labelledby": "set-title" },
        h("h1", { id: "set-title" }, "Set your password"),
        h("p", null, "You were invited to a drift tenant. Choose your password, then log in."),
        box,
        field("New password", password, "12 to 256 characters"),
        h("button", { type: "submit" }, "Set the password"));
    form.addEventListener("submit", (e) => {
        e.preventDefault();
        void busy(form, box, async () => {
            await callPublic("POST", "/api/v1/password", { token, password: password.value });
            clear(main, h("section", { class: "card narrow" }, h("h1", null, "Password set"),
                notice("Your password is set; the link is spent."), h("p", null, h("a", { href: "#/login" }, "Log in"))));
        });
    });
    clear(main, form);
    password.focus();
}
