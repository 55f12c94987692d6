/** The one error of a result that must have failed, with its coded extensions. */
export function errorOf(result: {
  errors?: ReadonlyArray<{ message: string; extensions?: unknown }>;
}) {
  expect(result.errors).toHaveLength(1);
  return result.errors![0]! as { message: string; extensions: { code: string; field?: string } };
}
