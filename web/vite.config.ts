// The dashboard's build: everything bundled into dist/ (no CDN, no external
// fonts: it runs offline). `npm run dev` proxies /api to a running
// `drift api` (DRIFT_API_URL, default http://127.0.0.1:8080).
import { defineConfig } from "vite";

const api = (globalThis as { process?: { env: Record<string, string | undefined> } })
    .process?.env.DRIFT_API_URL ?? "http://127.0.0.1:8080";

export default defineConfig({
    base: "/",
    build: {
        outDir: "dist",
        emptyOutDir: true,
        assetsInlineLimit: 0,
        sourcemap: false,
    },
    server: {
        proxy: { "/api": api, "/healthz": api },
    },
});
