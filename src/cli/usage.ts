import { COMMANDS } from "../config.ts";

/** `langgraph-gql --help`. Environment variables are listed in the README's Configuration. */
export function usage(version: string): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length));
  const commands = Object.entries(COMMANDS)
    .map(([name, text]) => `  ${name.padEnd(width)}  ${text}`)
    .join("\n");
  return `langgraph-gql ${version}: serve the graphs of a langgraph.json as a GraphQL API

Usage: langgraph-gql [command] [options]

Commands (default: start):
${commands}

Options:
  -c, --config <file>  langgraph.json to serve (default: ./langgraph.json)
  -p, --port <port>    port to listen on (default: PORT, else 4000; 0 picks a free one)
      --host <host>    address to listen on (default: HOST, else 0.0.0.0; 127.0.0.1 for dev)
  -h, --help           show this help
  -v, --version        show the version

Database: DATABASE_URL, or with none an embedded PostgreSQL whose data lives in ./.data
(LANGGRAPH_GQL_DATA_DIR). Every environment variable is described in the README.
`;
}
