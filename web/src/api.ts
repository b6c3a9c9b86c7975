// The dashboard API client (docs/API.md): JSON over /api/v1, the access
// token in memory and in sessionStorage (gone when the tab closes), refreshed
// through /api/v1/refresh a minute before it expires. Refresh tokens rotate
// and presenting a spent one revokes the session, so only one refresh is
// ever in flight.

export type Severity = "none" | "info" | "low" | "medium" | "high" | "critical";
export const SEVERITIES: Severity[] = ["critical", "high", "medium", "low", "info", "none"];

export interface Tenant { id: string; name: string }
export interface User { id: string; email: string; role: "owner" | "admin" | "viewer"; tenant?: Tenant }
export interface Session {
    access_token: string;
    refresh_token: string;
    expires_at: number;          // ms since the epoch
    user: User;
    tenant: Tenant;
}
export interface List<T> { items: T[]; offset: number; limit: number; more: boolean }

export class ApiError extends Error {
    constructor(public status: number, public code: string, message: string, public field?: string) {
        super(message);
    }
    // What the user reads: the API's own message, naming the field at fault.
    describe(): string {
        const field = this.field ? ` (field: ${this.field})` : "";
        return `${this.message}${field} — ${this.status} ${this.code}`;
    }
}

const KEY = "drift.session";
let session: Session | null = load();
let refreshing: Promise<boolean> | null = null;
let timer: number | undefined;
const listeners: Array<(s: Session | null) => void> = [];

function load(): Session | null {
    try {
        const text = sessionStorage.getItem(KEY);
        if (!text) return null;
        const s = JSON.parse(text) as Session;
        return s && s.access_token && s.refresh_token ? s : null;
    } catch {
        return null;
    }
}

function save(s: Session | null): void {
    session = s;
    try {
        if (s) sessionStorage.setItem(KEY, JSON.stringify(s));
        else sessionStorage.removeItem(KEY);
    } catch { /* storage disabled: memory only */ }
    schedule();
    for (const f of listeners) f(s);
}

function schedule(): void {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    if (!session) return;
    // A minute before expiry (or at 80 % of a short lifetime).
    const left = session.expires_at - Date.now();
    const at = Math.max(1000, Math.min(left - 60_000, left * 0.8));
    timer = window.setTimeout(() => { void refresh(); }, at);
}

export function current(): Session | null { return session; }
export function onSession(f: (s: Session | null) => void): void { listeners.push(f); }
export function canAdmin(): boolean { return session?.user.role === "admin" || session?.user.role === "owner"; }

interface TokenAnswer {
    access_token: string; refresh_token: string; expires_in: number;
    user?: User; tenant?: Tenant;
}

function adopt(a: TokenAnswer, user?: User, tenant?: Tenant): void {
    const u = user ?? a.user ?? session?.user;
    const t = tenant ?? a.tenant ?? a.user?.tenant ?? session?.tenant;
    if (!u || !t) throw new ApiError(500, "internal", "the API answered without a user or tenant");
    save({
        access_token: a.access_token,
        refresh_token: a.refresh_token,
        expires_at: Date.now() + (a.expires_in || 900) * 1000,
        user: u,
        tenant: t,
    });
}

async function parseError(res: Response): Promise<ApiError> {
    let code = "http_" + res.status, message = res.statusText || `HTTP ${res.status}`, field: string | undefined;
    try {
        const body = await res.json();
        if (body && body.error) {
            code = body.error.code ?? code;
            message = body.error.message ?? message;
            field = body.error.field;
        }
    } catch { /* not JSON */ }
    if (res.status === 429) {
        const after = res.headers.get("Retry-After");
        if (after) message += ` (retry after ${after} s)`;
    }
    return new ApiError(res.status, code, message, field);
}

async function raw(method: string, path: string, body?: unknown, auth = true): Promise<Response> {
    const headers: Record<string, string> = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (auth && session) headers.Authorization = `Bearer ${session.access_token}`;
    try {
        return await fetch(path, {
            method, headers, body: body === undefined ? undefined : JSON.stringify(body),
            credentials: "same-origin",
        });
    } catch (e) {
        throw new ApiError(0, "network", `the API cannot be reached (${(e as Error).message})`);
    }
}

// Calls the API; a 401 on an authenticated call is retried once after a
// refresh. Answers the parsed JSON (undefined for 204).
export async function call<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    let res = await raw(method, path, body);
    if (res.status === 401 && session) {
        if (await refresh()) res = await raw(method, path, body);
    }
    if (res.status === 401 && session) {
        save(null);
        location.hash = "#/login";
    }
    if (!res.ok) throw await parseError(res);
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    return (text ? JSON.parse(text) : undefined) as T;
}

export const get = <T>(path: string, query?: Record<string, string | number | undefined>) =>
    call<T>("GET", path + qs(query));

export function qs(query?: Record<string, string | number | undefined>): string {
    if (!query) return "";
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== "") p.set(k, String(v));
    const s = p.toString();
    return s ? "?" + s : "";
}

// A file the API answers (a CSV export): its content and the name the API
// gives it (Content-Disposition); retried once after a refresh, as call().
export async function file(path: string, query?: Record<string, string | number | undefined>):
    Promise<{ blob: Blob; name: string }> {
    const url = path + qs(query);
    let res = await raw("GET", url);
    if (res.status === 401 && session && await refresh()) res = await raw("GET", url);
    if (!res.ok) throw await parseError(res);
    const name = /filename="([^"]+)"/.exec(res.headers.get("Content-Disposition") ?? "")?.[1] ?? "export.csv";
    return { blob: await res.blob(), name };
}

export async function refresh(): Promise<boolean> {
    if (!session) return false;
    if (refreshing) return refreshing;
    const spent = session.refresh_token;
    refreshing = (async () => {
        try {
            const res = await raw("POST", "/api/v1/refresh", { refresh_token: spent }, false);
            if (!res.ok) {
                if (res.status === 401 || res.status === 400) save(null);
                return false;
            }
            adopt(await res.json());
            return true;
        } catch {
            return false;
        } finally {
            refreshing = null;
        }
    })();
    return refreshing;
}

export async function login(email: string, password: string): Promise<void> {
    const res = await raw("POST", "/api/v1/login", { email, password }, false);
    if (!res.ok) throw await parseError(res);
    const a = await res.json();
    adopt(a, a.user, a.user?.tenant);
}

export async function signup(tenant: string, email: string, password: string): Promise<void> {
    const res = await raw("POST", "/api/v1/signup", { tenant, email, password }, false);
    if (!res.ok) throw await parseError(res);
    const a = await res.json();
    adopt(a, a.user, a.tenant);
}

export async function logout(): Promise<void> {
    const s = session;
    save(null);
    if (!s) return;
    try {
        await fetch("/api/v1/logout", {
            method: "POST",
            headers: { "Content-Type": "application/json", Authorization: `Bearer ${s.access_token}` },
            body: JSON.stringify({ refresh_token: s.refresh_token }),
        });
    } catch { /* the session is gone here anyway */ }
}

// On load: a session from sessionStorage gets its timer (or an immediate
// refresh when it is already past its expiry).
schedule();

// A route that takes no token (setting a password through a link): sent
// without Authorization, and its 401 is the route's answer (a bad link),
// never taken for the end of whoever is signed in in this tab.
export async function callPublic(method: string, path: string, body?: unknown): Promise<void> {
    const res = await raw(method, path, body, false);
    if (!res.ok) throw await parseError(res);
}
