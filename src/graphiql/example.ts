/**
 * The document GraphiQL opens with: create a thread, then stream a run on it. Both operations
 * default to the same thread id, so they run one after the other with nothing to copy between
 * them, and running StreamRun again continues the same conversation.
 */
export function exampleDocument(options: { graphId: string; threadId: string }): string {
  const graphId = graphQLString(options.graphId);
  const threadId = graphQLString(options.threadId);
  // Lines kept short: the query editor is half of a laptop screen.
  return `# langgraph-gql: your LangGraph graphs, one GraphQL API.
#
# 1. Run CreateThread (the run button, then pick it):
#    a thread for the graph ${graphId}.
# 2. Run StreamRun: the run streams as it happens,
#    RunStartedEvent, a MessageEvent per token, then
#    RunEndedEvent. GraphiQL shows the latest event.
#    Run it again to continue the conversation.
#
# With API keys (LANGGRAPH_GQL_API_KEYS) or an auth
# module, send credentials in the Headers tab below:
#   {"x-api-key": "<your key>"}
#   {"Authorization": "Bearer <your key>"}
# then the arrows at the bottom left reload the schema.
#
# The book icon (top left) opens the documentation.

mutation CreateThread($threadId: ID = ${threadId}) {
  createThread(
    input: {
      threadId: $threadId
      graphId: ${graphId}
      ifExists: DO_NOTHING
    }
  ) {
    id
    status
    createdAt
  }
}

subscription StreamRun($threadId: ID = ${threadId}) {
  streamRun(
    input: {
      threadId: $threadId
      assistantId: ${graphId}
      input: {
        messages: [
          { role: "user", content: "Weather in Paris?" }
        ]
      }
      streamMode: [MESSAGES]
    }
  ) {
    __typename
    ... on RunStartedEvent {
      runId
      attempt
    }
    ... on MessageEvent {
      message {
        type
        text
        toolCallChunks {
          name
          args
        }
      }
    }
    ... on InterruptedEvent {
      interrupts {
        value
      }
    }
    ... on RunErrorEvent {
      error {
        type
        message
      }
    }
    ... on RunEndedEvent {
      runId
      status
    }
  }
}
`;
}

/**
 * A GraphQL string literal. `<` is escaped too: the page inlines the document in a script
 * element, which a graph id containing `</script>` would otherwise close.
 */
function graphQLString(value: string): string {
  return JSON.stringify(value).replace(/</g, "\\u003c");
}
