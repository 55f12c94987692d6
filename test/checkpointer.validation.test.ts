import { deltaChannelHistoryTests, validate } from "@langchain/langgraph-checkpoint-validation";
import { checkpointSaverInitializer } from "./checkpoint-initializer.ts";

// The whole official suite (put, putWrites, getTuple, list, deleteThread, including "should only
// store channel_values that have changed"), plus the getDeltaChannelHistory conformance tests,
// which specTest leaves out: each in-repo saver's own spec opts in by calling them itself.
const initializer = checkpointSaverInitializer();
validate(initializer);
deltaChannelHistoryTests(initializer);
