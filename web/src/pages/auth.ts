// Log in and sign up (a new tenant with its first user, the owner).
import { login, signup } from "../api";
import { h, clear } from "../dom";
import { busy, errorBox, field } from "../ui";

export function loginPage(main: HTMLElement): void {
    document.title = "Log in · drift";
    const email = h("input", { type: "email", name: "email", autocomplete: "username", required: true });
    const password = h("input", { type: "password", name: "password", autocomplete: "current-password", required: true });
    const box = errorBox();
    const form = h("form", { class: "card narrow", "aria-labelledby": "login-title" },
        h("h1", { id: "login-title" }, "Log in"),
        box,
        field("Email", email),
        field("Password", password),
        h("button", { type: "submit" }, "Log in"),
        h("p", null, "No account yet? ", h("a", { href: "#/signup" }, "Sign up")));
    form.addEventListener("submit", (e) => {
        e.preventDefault();
        void busy(form, box, async () => {
            await login(email.value.trim(), password.value);
            location.hash = "#/stacks";
        });
    });
    clear(main, form);
    email.focus();
}

export function signupPage(main: HTMLElement): void {
    document.title = "Sign up · drift";
    const tenant = h("input", {
        type: "text", name: "tenant", required: true, pattern: "[a-z0-9][a-z0-9\\-]{0,62}",
        autocomplete: "organization",
    });
    const email = h("input", { type: "email", name: "email", autocomplete: "username", required: true });
    const password = h("input", {
        type: "password", name: "password", autocomplete: "new-password", required: true,
        minlength: 12, maxlength: 256,
    });
    const box = errorBox();
    const form = h("form", { class: "card narrow", "aria-labelledby": "signup-title" },
        h("h1", { id: "signup-title" }, "Sign up"),
        h("p", null, "Creates a tenant for your organisation, with you as its owner."),
        box,
        field("Tenant", tenant, "1 to 63 of a-z, 0-9 and '-'"),
        field("Email", email),
        field("Password", password, "12 to 256 characters"),
        h("button", { type: "submit" }, "Create the tenant"),
        h("p", null, "Already have an account? ", h("a", { href: "#/login" }, "Log in")));
    form.addEventListener("submit", (e) => {
        e.preventDefault();
        void busy(form, box, async () => {
            await signup(tenant.value.trim(), email.value.trim(), password.value);
            location.hash = "#/stacks";
        });
    });
    clear(main, form);
    tenant.focus();
}
