import type { CodegenConfig } from "@graphql-codegen/cli";

// Typed documents for the operations the tests and examples send. Tests execute these, so a
// change to schema.graphql that breaks a client shows up as a type error in `npm test`.
const config: CodegenConfig = {
  schema: "schema.graphql",
  documents: ["test/operations/**/*.graphql"],
  ignoreNoDocuments: false,
  generates: {
    "test/gql/": {
      preset: "client",
      presetConfig: { fragmentMasking: false },
      config: {
        useTypeImports: true,
        enumsAsTypes: true,
        scalars: { JSON: "unknown", DateTime: "string" },
        strictScalars: true,
      },
    },
  },
};

export default config;
