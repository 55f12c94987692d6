import { WebhookDeliveryStatus } from "../generated/prisma/enums.ts";
import { builder } from "./builder.ts";

// The delivery log of a run's webhook (an addition to the contract): what was attempted, with
// which outcome, and what comes next.

const WebhookDeliveryStatusEnum = builder.enumType(WebhookDeliveryStatus, {
  name: "WebhookDeliveryStatus",
  description:
    "PENDING while attempts remain (nextAttemptAt says when), DELIVERED after a 2xx answer, FAILED once attempts ran out or the target was refused.",
});

builder.prismaObject("WebhookDelivery", {
  description:
    "One POST owed for a finished run, signed per Standard Webhooks; webhook-id is this delivery's id on every attempt.",
  fields: (t) => ({
    id: t.exposeID("id"),
    runId: t.exposeID("runId"),
    url: t.exposeString("url"),
    status: t.expose("status", { type: WebhookDeliveryStatusEnum }),
    attempts: t.exposeInt("attempts"),
    lastStatusCode: t.exposeInt("lastStatusCode", { nullable: true }),
    lastError: t.exposeString("lastError", { nullable: true }),
    nextAttemptAt: t.expose("nextAttemptAt", { type: "DateTime", nullable: true }),
    deliveredAt: t.expose("deliveredAt", { type: "DateTime", nullable: true }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    updatedAt: t.expose("updatedAt", { type: "DateTime" }),
  }),
});

builder.prismaObjectField("Run", "webhookDeliveries", (t) =>
  t.prismaField({
    type: ["WebhookDelivery"],
    description: "Deliveries of the run's webhook (none until the run ends, or without a webhook).",
    resolve: (_query, run, _args, ctx) => ctx.services.webhooks.deliveries(run.id),
  }),
);
