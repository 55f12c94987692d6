import { relative, sep } from "node:path";
import { watch } from "chokidar";

/** Files whose change can change a graph: modules, JSON (langgraph.json too) and env files. */
const WATCHED = /\.(?:[cm]?[jt]sx?|json)$|(?:^|[\\/])\.env(?:\.[\w.-]+)?$/;
/** Never graph sources, and large: dependencies, VCS, build output, our embedded database. */
const SKIPPED_DIRS = new Set(["node_modules", ".git", "dist", "build", "coverage", ".data"]);

export interface ProjectWatcher {
  /** Resolves once the initial scan is done: changes from then on are reported. */
  ready: Promise<void>;
  close(): Promise<void>;
}

/**
 * Calls `onChange` with the project files that changed, once edits pause for `settleMs` (an
 * editor's save is often several writes; a formatter rewrites many files at once).
 */
export function watchProject(
  projectDir: string,
  options: { ignore: string[]; settleMs?: number },
  onChange: (files: string[]) => void,
): ProjectWatcher {
  const ignored = options.ignore.map((dir) => dir + sep);
  const watcher = watch(projectDir, {
    ignoreInitial: true,
    ignored: (path, stats) => {
      if (ignored.some((dir) => `${path}${sep}`.startsWith(dir))) return true;
      const parts = relative(projectDir, path).split(sep);
      if (parts.some((part) => SKIPPED_DIRS.has(part))) return true;
      return stats?.isFile() === true && !WATCHED.test(path);
    },
  });
  const changed = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  const note = (path: string) => {
    if (!WATCHED.test(path)) return;
    changed.add(relative(projectDir, path));
    clearTimeout(timer);
    timer = setTimeout(() => {
      const files = [...changed];
      changed.clear();
      onChange(files);
    }, options.settleMs ?? 150);
  };
  watcher.on("add", note).on("change", note).on("unlink", note);
  const ready = new Promise<void>((resolve) => watcher.once("ready", () => resolve()));
  return {
    ready,
    async close() {
      clearTimeout(timer);
      await watcher.close();
    },
  };
}
