/**
 * Polls until `check` holds: tests observe the engine's progress in the database instead of
 * sleeping for a guessed time. Fails after about 15 s with what it was waiting for.
 */
export async function until<T>(
  read: () => Promise<T>,
  check: (value: T) => boolean,
  what: string,
): Promise<T> {
  for (let i = 0; i < 600; i++) {
    const value = await read();
    if (check(value)) return value;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The `steps` list of the fixture graphs' state. */
export const stepsOf = (values: unknown): number[] =>
  (values as { steps: number[] } | null)?.steps ?? [];
