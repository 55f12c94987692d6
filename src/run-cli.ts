// The `langgraph-gql` executable's entry: bin/ runs its compiled copy, a checkout runs it via tsx.
import { main } from "./main.ts";

await main(process.argv.slice(2));
