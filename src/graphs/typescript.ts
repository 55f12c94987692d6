/**
 * The project's graphs, auth module and custom app may be TypeScript, as under `langgraph dev`.
 * The server itself ships as JavaScript, so tsx's loader is registered only when a module the
 * project names needs it, and not at all when our own code already runs through tsx (from a
 * checkout: then its loader is active in this process).
 */
const TYPESCRIPT = /\.(?:[cm]?tsx?)$/;

let registered = false;

export async function enableTypeScriptModules(paths: string[]): Promise<void> {
  if (registered || !paths.some((path) => TYPESCRIPT.test(path))) return;
  registered = true;
  if (import.meta.url.endsWith(".ts")) return;
  const { register } = await import("tsx/esm/api");
  register();
}
