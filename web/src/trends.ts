// The drift trend charts of the History and Stack pages, from GET
// /api/v1/history (docs/API.md): open drift by severity per day (stacked
// bars), opened vs resolved per day (lines), median time to fix per week
// (bars). The API counts; this only draws (web/src/chart.ts).
import { SEVERITIES, type Severity } from "./api";
import { h } from "./dom";
import { chart, shortDay } from "./chart";

export interface History {
    from: string; to: string;
    days: Array<{ day: string; opened: number; resolved: number; open: Record<Severity, number> }>;
    weeks: Array<{ week: string; fixed: number; p50_s: number | null }>;
    time_to_fix: { count: number; mean_s: number | null; p50_s: number | null; p90_s: number | null };
}

// 93784 -> "1 d 2 h", 150 -> "2 min 30 s".
export function duration(seconds: number | null): string {
    if (seconds === null || !Number.isFinite(seconds)) return "—";
    const parts: Array<[number, string]> = [[86400, "d"], [3600, "h"], [60, "min"], [1, "s"]];
    const out: string[] = [];
    let rest = Math.round(seconds);
    for (const [size, unit] of parts) {
        if (rest >= size || (unit === "s" && out.length === 0)) {
            out.push(`${Math.floor(rest / size)} ${unit}`);
            rest %= size;
        }
        if (out.length === 2) break;
    }
    return out.join(" ");
}

// The y axis of times: in the largest unit the longest time fills.
function timeUnit(max: number): { size: number; label: string } {
    if (max >= 2 * 86400) return { size: 86400, label: "days" };
    if (max >= 2 * 3600) return { size: 3600, label: "hours" };
    if (max >= 120) return { size: 60, label: "minutes" };
    return { size: 1, label: "seconds" };
}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

export function trends(history: History): HTMLElement {
    const days = history.days.map((d) => d.day);
    const weeks = history.weeks.map((w) => w.week);
    return h("section", { class: "trends", "aria-label": "Trends" },
        chart({
            id: "open-by-severity", title: "Open drift by severity, at the end of each day",
            categories: days, kind: "stacked", yLabel: "open items", integer: true, wide: true,
            series: SEVERITIES.map((s) => ({ name: s, key: s, values: history.days.map((d) => d.open?.[s] ?? 0) })),
            format: (v) => plural(v, "item", "items"),
            empty: "No drift was open in this window.",
        }),
        chart({
            id: "opened-resolved", title: "Drift opened and resolved per day",
            categories: days, kind: "lines", yLabel: "items", integer: true,
            series: [
                { name: "opened", key: "opened", values: history.days.map((d) => d.opened) },
                { name: "resolved", key: "resolved", values: history.days.map((d) => d.resolved) },
            ],
            format: (v) => plural(v, "item", "items"),
            empty: "No drift was opened or resolved in this window.",
        }),
        chart({
            id: "time-to-fix", title: "Median time to fix, per week (from Monday)",
            categories: weeks, kind: "grouped", yLabel: "seconds",
            series: [{ name: "median time to fix", key: "fix", values: history.weeks.map((w) => w.p50_s) }],
            format: (v) => duration(v), unit: timeUnit,
            hasData: history.weeks.some((w) => w.fixed > 0),
            describe: (w) => {
                const fixed = history.weeks.find((x) => x.week === w)?.fixed ?? 0;
                return `week of ${shortDay(w)} (${plural(fixed, "fix", "fixes")})`;
            },
            empty: "No drift was resolved in this window.",
        }));
}
