// Users (issue 21): an admin sees who is in the tenant; the owner invites
// (the account made with a one-time set-password link, shown once), changes
// roles, makes a new link, removes. The API keeps the last owner.
import { call, current, get, type List } from "../api";
import { h, clear, time } from "../dom";
import { busy, errorBox, field, loading, select, showError, table } from "../ui";
import { showOnce } from "../once";

interface UserRow { id: string; email: string; role: string; created_at: string; disabled: boolean }
interface Invited extends UserRow {
    password_link: { token: string; expires_at: string };
    invitation_email?: { sent: boolean; channel?: string; error?: string };
}

// Whether the invitation also went by email, as the API says.
function mailed(u: Invited): string {
    const m = u.invitation_email;
    if (!m) return "";
    return m.sent ? ` It was also mailed to ${u.email} through the channel ${m.channel}.`
        : ` It was not mailed: ${m.error ?? "no email channel"}.`;
}

const ROLES: Array<[string, string]> = [["viewer", "viewer"], ["admin", "admin"], ["owner", "owner"]];

// The link a user opens: this dashboard's set-password page with the token.
export function passwordLink(token: string): string {
    return `${location.origin}${location.pathname}#/set-password/${encodeURIComponent(token)}`;
}

// What was just made, shown once after the page is drawn again.
let justMade: Invited | null = null;

export async function usersPage(main: HTMLElement): Promise<void> {
    document.title = "Users · drift";
    const owner = current()?.user.role === "owner";
    const box = errorBox();
    const made = h("div", { "aria-live": "polite" });
    if (justMade) {
        showOnce(made, `${justMade.email} invited`, "Set-password link", passwordLink(justMade.password_link.token),
            `Send it to ${justMade.email}: it sets their password once, until ${justMade.password_link.expires_at}. ` +
            "Anyone who has it can take the account until it is used." + mailed(justMade));
        justMade = null;
    }
    const body = h("div", null, loading());
    clear(main, h("h1", null, "Users"),
        h("p", null, "Who may use this tenant's dashboard: viewers read, admins also suppress drift and manage channels, agents and tokens, owners also manage users."),
        box, made, owner && inviteForm(main), body);
    let list: List<UserRow>;
    try {
        list = await get<List<UserRow>>("/api/v1/users", { limit: 200 });
    } catch (e) {
        clear(body);
        showError(box, e);
        return;
    }
    const me = current()?.user.id;
    clear(body, table("Users", ["Email", "Role", "State", "Added", ...(owner ? ["Actions"] : [])],
        list.items.map((u) => {
            const row: Array<Node | string> = [u.email, u.role, u.disabled ? "disabled" : "active", time(u.created_at)];
            if (!owner) return row;
            const role = select("role", ROLES, u.role);
            role.setAttribute("aria-label", `Role of ${u.email}`);
            const save = h("button", { type: "button", "aria-label": `Change the role of ${u.email}` }, "Change role");
            const link = h("button", { type: "button", "aria-label": `New set-password link for ${u.email}` }, "New link");
            const remove = h("button", { type: "button", class: "danger", "aria-label": `Remove ${u.email}` }, "Remove");
            const actions = h("div", { class: "actions" }, role, save, link, remove);
            save.addEventListener("click", () => void busy(actions, box, async () => {
                await call("PATCH", `/api/v1/users/${encodeURIComponent(u.id)}`, { role: role.value });
                await usersPage(main);
            }));
            link.addEventListener("click", () => void busy(actions, box, async () => {
                justMade = await call<Invited>("POST", `/api/v1/users/${encodeURIComponent(u.id)}/password-link`);
                await usersPage(main);
            }));
            remove.addEventListener("click", () => {
                const who = u.id === me ? "yourself" : u.email;
                if (!confirm(`Remove ${who}? Their sessions and API tokens end at once.`)) return;
                void busy(actions, box, async () => {
                    await call("DELETE", `/api/v1/users/${encodeURIComponent(u.id)}`);
                    await usersPage(main);
                });
            });
            row.push(actions);
            return row;
        }),
        "No user yet."));
}

function inviteForm(main: HTMLElement): HTMLElement {
    const box = errorBox();
    const email = h("input", { type: "email", name: "email", required: true, maxlength: 254 });
    const role = select("role", ROLES, "viewer");
    const form = h("form", { class: "card", "aria-labelledby": "invite-title" },
        h("h2", { id: "invite-title" }, "Invite a user"), box,
        field("Email", email),
        field("Role", role),
        h("button", { type: "submit" }, "Invite"));
    form.addEventListener("submit", (e) => {
        e.preventDefault();
        void busy(form, box, async () => {
            justMade = await call<Invited>("POST", "/api/v1/users", { email: email.value.trim(), role: role.value });
            await usersPage(main);
        });
    });
    return form;
}
