// The drift dashboard: a hash-routed single-page app (so `drift api --static`
// and Caddy serve it as plain files, no rewrite rules needed).
import "./style.css";
import { canAdmin, current, logout, onSession } from "./api";
import { h, clear } from "./dom";
import { loginPage, signupPage } from "./pages/auth";
import { stacksPage } from "./pages/stacks";
import { stackPage } from "./pages/stack";
import { driftListPage, driftDetailPage } from "./pages/drift";
import { channelsPage } from "./pages/channels";
import { agentsPage } from "./pages/agents";
import { reportsPage } from "./pages/reports";
import { historyPage } from "./pages/history";
import { usersPage } from "./pages/users";
import { tokensPage } from "./pages/tokens";
import { auditPage } from "./pages/audit";
import { accountPage, setPasswordPage } from "./pages/account";
import { commandPage } from "./pages/remediation";

export interface Route { path: string[]; query: URLSearchParams }
type Page = (main: HTMLElement, route: Route) => void | Promise<void>;

const app = document.getElementById("app")!;
const header = h("header", { class: "top" });
const main = h("main", { id: "main", tabindex: "-1" });
app.append(header, main);

document.querySelector<HTMLAnchorElement>("a.skip")?.addEventListener("click", (e) => {
    e.preventDefault();
    main.focus();
});

function parse(): Route {
    const hash = location.hash.replace(/^#/, "") || "/";
    const [p, q] = hash.split("?", 2);
    return { path: p.split("/").filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(q ?? "") };
}

export function go(path: string): void {
    if (location.hash === "#" + path) void render();
    else location.hash = path;
}

const NAV: Array<[string, string]> = [
    ["#/stacks", "Stacks"], ["#/drift", "Drift"], ["#/reports", "Reports"], ["#/history", "History"],
    ["#/channels", "Channels"], ["#/agents", "Agents"],
];
// People and machines: for admins and owners only.
const NAV_ADMIN: Array<[string, string]> = [["#/users", "Users"], ["#/tokens", "Tokens"], ["#/audit", "Audit"]];

function renderHeader(route: Route): void {
    const s = current();
    const here = "#/" + (route.path[0] ?? "stacks");
    clear(header,
        h("a", { class: "brand", href: s ? "#/stacks" : "#/login" }, "drift"),
        s && h("nav", { "aria-label": "Main" },
            h("ul", null, [...NAV, ...(canAdmin() ? NAV_ADMIN : [])].map(([href, text]) =>
                h("li", null, h("a", { href, "aria-current": href === here ? "page" : undefined }, text))))),
        s && h("div", { class: "who" },
            h("a", { href: "#/account", title: "Your account: password and sessions" },
                `${s.user.email} · ${s.tenant.name} · ${s.user.role}`),
            h("button", {
                type: "button", class: "link",
                onclick: async () => { await logout(); go("/login"); },
            }, "Log out")));
}

async function render(): Promise<void> {
    const route = parse();
    const first = route.path[0] ?? "";
    const open = first === "login" || first === "signup" || first === "set-password";
    if (!current() && !open) {
        location.replace("#/login");
        return;
    }
    if (current() && ((open && first !== "set-password") || first === "")) {
        location.replace("#/stacks");
        return;
    }
    let page: Page;
    switch (first) {
        case "login": page = loginPage; break;
        case "signup": page = signupPage; break;
        case "stacks": page = route.path[1] ? stackPage : stacksPage; break;
        case "drift": page = route.path[1] ? driftDetailPage : driftListPage; break;
        case "reports": page = reportsPage; break;
        case "history": page = historyPage; break;
        case "channels": page = channelsPage; break;
        case "agents": page = agentsPage; break;
        case "commands": page = route.path[1] ? commandPage : (m) => clear(m, h("h1", null, "Not found")); break;
        case "users": page = usersPage; break;
        case "tokens": page = tokensPage; break;
        case "audit": page = auditPage; break;
        case "account": page = accountPage; break;
        case "set-password": page = setPasswordPage; break;
        default:
            page = (m) => clear(m, h("h1", null, "Not found"), h("p", null, h("a", { href: "#/stacks" }, "Back to the stacks")));
    }
    renderHeader(route);
    clear(main);
    await page(main, route);
}

window.addEventListener("hashchange", () => { void render(); });
onSession((s) => { if (!s && !/^#\/(login|signup|set-password)/.test(location.hash)) location.hash = "#/login"; });
void render();
