import {
  CancelAction,
  Durability,
  MultitaskStrategy,
  OnCompletion,
  OnDisconnect,
  RunStatus,
  ThreadStatus,
} from "../generated/prisma/enums.ts";
import { builder } from "./builder.ts";

// The database enums are the GraphQL enums: same names, same values.
export const RunStatusEnum = builder.enumType(RunStatus, {
  name: "RunStatus",
  description:
    "A run that stops at an interrupt (interrupt() in a node, or interruptBefore/After) ends SUCCESS; its thread becomes INTERRUPTED. INTERRUPTED here means the run was cancelled or superseded (CancelAction or MultitaskStrategy INTERRUPT).",
});
export const ThreadStatusEnum = builder.enumType(ThreadStatus, { name: "ThreadStatus" });
export const MultitaskStrategyEnum = builder.enumType(MultitaskStrategy, {
  name: "MultitaskStrategy",
  description:
    "What happens when a run is created on a thread that already has a pending or running run.",
});
export const CancelActionEnum = builder.enumType(CancelAction, { name: "CancelAction" });
export const OnCompletionEnum = builder.enumType(OnCompletion, { name: "OnCompletion" });
export const OnDisconnectEnum = builder.enumType(OnDisconnect, { name: "OnDisconnect" });
export const DurabilityEnum = builder.enumType(Durability, { name: "Durability" });

export const SortOrderEnum = builder.enumType("SortOrder", { values: ["ASC", "DESC"] as const });
export const IfExistsEnum = builder.enumType("IfExists", {
  values: ["RAISE", "DO_NOTHING"] as const,
});
export const IfNotExistsEnum = builder.enumType("IfNotExists", {
  values: ["CREATE", "REJECT"] as const,
});
