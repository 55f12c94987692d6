/**
 * Module hooks of `langgraph-gql dev` (registered with node:module's register, so they run in
 * the loader thread). ES modules cannot be evicted from Node's cache, so a reload imports a
 * graph module under a new URL (`?lgql-reload=N`) and these hooks give every project file it
 * imports, directly or not, the same suffix: the whole project is evaluated afresh, while
 * packages under node_modules keep one shared copy (one @langchain/langgraph for every
 * generation of the graphs, which LangGraph's own instance checks need).
 */
export const RELOAD_PARAM = "lgql-reload";

let projectUrl = "";

export function initialize(data: { projectUrl: string }): void {
  projectUrl = data.projectUrl;
}

type Resolved = { url: string; format?: string | null; importAttributes?: object };
type NextResolve = (specifier: string, context: object) => Promise<Resolved>;

export async function resolve(
  specifier: string,
  context: { parentURL?: string },
  nextResolve: NextResolve,
): Promise<Resolved> {
  const resolved = await nextResolve(specifier, context);
  const parent = context.parentURL;
  if (!parent?.includes(RELOAD_PARAM) || !isProjectFile(resolved.url)) return resolved;
  const generation = new URL(parent).searchParams.get(RELOAD_PARAM);
  if (generation === null) return resolved;
  const url = new URL(resolved.url);
  url.searchParams.set(RELOAD_PARAM, generation);
  return { ...resolved, url: url.href };
}

function isProjectFile(url: string): boolean {
  return url.startsWith(projectUrl) && !url.includes("/node_modules/");
}
