import pg from "pg";
import { defaultAssistantId } from "../src/graphs/load.ts";
import {
  AssistantDocument,
  AssistantsDocument,
  AssistantVersionsDocument,
  CreateAssistantDocument,
  type CreateAssistantInput,
  DeleteAssistantDocument,
  SetAssistantVersionDocument,
  UpdateAssistantDocument,
} from "./gql/graphql.ts";
import { errorOf } from "./helpers/graphql.ts";
import { startTestServer, type TestServer } from "./helpers/server.ts";

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});

afterAll(async () => {
  await server?.stop();
});

async function create(input: Partial<CreateAssistantInput>) {
  const { createAssistant } = await server.query(CreateAssistantDocument, {
    input: { graphId: "agent", ...input },
  });
  return createAssistant;
}

describe("default assistants", () => {
  it("exist for every graph with LangGraph's deterministic id, also reachable by graph id", async () => {
    const byGraph = await server.query(AssistantDocument, { id: "agent" });
    expect(byGraph.assistant).toMatchObject({
      id: defaultAssistantId("agent"),
      graphId: "agent",
      name: "agent",
      metadata: { created_by: "system" },
      version: 1,
      graph: { id: "agent" },
    });
    const byId = await server.query(AssistantDocument, { id: defaultAssistantId("agent") });
    expect(byId.assistant?.id).toBe(byGraph.assistant?.id);
  });

  it("cannot be deleted", async () => {
    const result = await server.request(DeleteAssistantDocument, { id: "agent" });
    expect(errorOf(result).extensions.code).toBe("CONFLICT");
    expect((await server.query(AssistantDocument, { id: "agent" })).assistant).not.toBeNull();
  });
});

describe("createAssistant", () => {
  it("creates version 1 with defaults, or with its own id", async () => {
    const made = await create({ config: { configurable: { model: "x" } } });
    expect(made).toMatchObject({
      graphId: "agent",
      name: "Untitled",
      description: null,
      config: { configurable: { model: "x" } },
      context: {},
      metadata: {},
      version: 1,
    });
    const id = "6a3b1c9e-0000-4000-8000-000000000001";
    expect((await create({ assistantId: id, name: "own" })).id).toBe(id);
  });

  it("refuses an existing id (CONFLICT) unless ifExists is DO_NOTHING", async () => {
    const first = await create({ name: "once" });
    const again = await server.request(CreateAssistantDocument, {
      input: { assistantId: first.id, graphId: "agent", name: "twice" },
    });
    expect(errorOf(again).extensions.code).toBe("CONFLICT");
    const kept = await create({ assistantId: first.id, name: "twice", ifExists: "DO_NOTHING" });
    expect(kept.name).toBe("once");
  });

  it("refuses unknown graphs, bad ids and non-object config, writing nothing", async () => {
    const before = (await server.query(AssistantsDocument, { first: 1 })).assistants.totalCount;
    const unknown = await server.request(CreateAssistantDocument, { input: { graphId: "nope" } });
    expect(errorOf(unknown).extensions).toMatchObject({ code: "NOT_FOUND", field: "graphId" });
    const badId = await server.request(CreateAssistantDocument, {
      input: { graphId: "agent", assistantId: "not-a-uuid" },
    });
    expect(errorOf(badId).extensions).toMatchObject({
      code: "BAD_USER_INPUT",
      field: "assistantId",
    });
    const badConfig = await server.request(CreateAssistantDocument, {
      input: { graphId: "agent", config: [1, 2] },
    });
    expect(errorOf(badConfig).extensions).toMatchObject({
      code: "BAD_USER_INPUT",
      field: "config",
    });
    // jsonb holds neither a NUL nor a lone surrogate: refused by path, not by the database.
    const unstorable = await server.request(CreateAssistantDocument, {
      input: { graphId: "agent", metadata: { owner: { name: "a\u0000" } } },
    });
    expect(errorOf(unstorable).extensions).toMatchObject({
      code: "BAD_USER_INPUT",
      field: "metadata",
    });
    expect(errorOf(unstorable).message).toBe(
      "metadata.owner.name contains a NUL character or an unpaired UTF-16 surrogate, which cannot be stored",
    );
    expect((await server.query(AssistantsDocument, { first: 1 })).assistants.totalCount).toBe(
      before,
    );
  });
});

describe("versions", () => {
  it("every update is a new active version; a no-op update too; metadata merges", async () => {
    const made = await create({ name: "v", metadata: { a: 1 }, config: { tags: ["one"] } });
    const v2 = (
      await server.query(UpdateAssistantDocument, {
        id: made.id,
        input: { name: "v2", metadata: { b: 2 }, config: { tags: ["two"] } },
      })
    ).updateAssistant;
    expect(v2).toMatchObject({
      version: 2,
      name: "v2",
      metadata: { a: 1, b: 2 },
      config: { tags: ["two"] },
    });
    const v3 = (await server.query(UpdateAssistantDocument, { id: made.id, input: {} }))
      .updateAssistant;
    expect(v3).toMatchObject({ version: 3, name: "v2", metadata: { a: 1, b: 2 } });

    const listed = await server.query(AssistantVersionsDocument, { id: made.id });
    expect(listed.assistant?.versions.totalCount).toBe(3);
    expect(listed.assistant?.versions.nodes.map((v) => v.version)).toEqual([3, 2, 1]);
    const filtered = await server.query(AssistantVersionsDocument, {
      id: made.id,
      metadata: { b: 2 },
    });
    expect(filtered.assistant?.versions.nodes.map((v) => v.version)).toEqual([3, 2]);
  });

  it("setAssistantVersion restores everything an earlier version recorded, and back", async () => {
    const made = await create({
      name: "first",
      description: "d1",
      context: { c: 1 },
      metadata: { m: 1 },
    });
    await server.query(UpdateAssistantDocument, {
      id: made.id,
      input: { name: "second", description: "d2", context: { c: 2 }, metadata: { m: 2 } },
    });
    const back = (await server.query(SetAssistantVersionDocument, { id: made.id, version: 1 }))
      .setAssistantVersion;
    expect(back).toMatchObject({
      version: 1,
      name: "first",
      description: "d1",
      context: { c: 1 },
      metadata: { m: 1 },
    });
    const forward = (await server.query(SetAssistantVersionDocument, { id: made.id, version: 2 }))
      .setAssistantVersion;
    expect(forward).toMatchObject({
      version: 2,
      name: "second",
      description: "d2",
      context: { c: 2 },
    });
    // Setting a version makes no new version.
    const listed = await server.query(AssistantVersionsDocument, { id: made.id });
    expect(listed.assistant?.versions.totalCount).toBe(2);
    const missing = await server.request(SetAssistantVersionDocument, { id: made.id, version: 9 });
    expect(errorOf(missing).extensions).toMatchObject({ code: "NOT_FOUND", field: "version" });
  });

  it("pages versions with cursors", async () => {
    const made = await create({ name: "paged" });
    for (let i = 0; i < 4; i++) {
      await server.query(UpdateAssistantDocument, { id: made.id, input: { name: `p${i}` } });
    }
    const first = await server.query(AssistantVersionsDocument, { id: made.id, first: 2 });
    const page1 = first.assistant!.versions;
    expect(page1.nodes.map((v) => v.version)).toEqual([5, 4]);
    expect(page1.pageInfo.hasNextPage).toBe(true);
    const second = await server.query(AssistantVersionsDocument, {
      id: made.id,
      first: 2,
      after: page1.pageInfo.endCursor,
    });
    expect(second.assistant!.versions.nodes.map((v) => v.version)).toEqual([3, 2]);
  });
});

describe("assistants search", () => {
  it("filters by graph, name substring (case-insensitive) and metadata containment", async () => {
    const tag = `t${Date.now()}`;
    await create({ name: `Alpha ${tag}`, metadata: { tag, team: { name: "red" } } });
    await create({ name: `beta ${tag}`, metadata: { tag, team: { name: "blue" } } });
    await server.query(CreateAssistantDocument, {
      input: { graphId: "research", name: `ALPHA-research ${tag}`, metadata: { tag } },
    });

    const byName = await server.query(AssistantsDocument, {
      filter: { name: "alpha", metadata: { tag } },
    });
    expect(byName.assistants.nodes.map((a) => a.name).sort()).toEqual([
      `ALPHA-research ${tag}`,
      `Alpha ${tag}`,
    ]);
    const byGraph = await server.query(AssistantsDocument, {
      filter: { graphId: "research", metadata: { tag } },
    });
    expect(byGraph.assistants.totalCount).toBe(1);
    const nested = await server.query(AssistantsDocument, {
      filter: { metadata: { team: { name: "blue" }, tag } },
    });
    expect(nested.assistants.nodes.map((a) => a.name)).toEqual([`beta ${tag}`]);
    const wildcard = await server.query(AssistantsDocument, {
      filter: { name: "%", metadata: { tag } },
    });
    expect(wildcard.assistants.totalCount).toBe(0);
  });

  it("orders and pages with cursors and a total", async () => {
    const tag = `o${Date.now()}`;
    for (const name of ["c", "a", "b"]) await create({ name: `${tag}-${name}`, metadata: { tag } });
    const asc = await server.query(AssistantsDocument, {
      filter: { metadata: { tag } },
      orderBy: { field: "NAME", direction: "ASC" },
      first: 2,
    });
    expect(asc.assistants.totalCount).toBe(3);
    expect(asc.assistants.edges.map((e) => e.node.name)).toEqual([`${tag}-a`, `${tag}-b`]);
    expect(asc.assistants.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: false });
    const rest = await server.query(AssistantsDocument, {
      filter: { metadata: { tag } },
      orderBy: { field: "NAME", direction: "ASC" },
      first: 2,
      after: asc.assistants.pageInfo.endCursor,
    });
    expect(rest.assistants.nodes.map((a) => a.name)).toEqual([`${tag}-c`]);
    expect(rest.assistants.pageInfo).toMatchObject({ hasNextPage: false, hasPreviousPage: true });
  });

  it("refuses bad paging and filters with BAD_USER_INPUT", async () => {
    expect(
      errorOf(await server.request(AssistantsDocument, { first: 0 })).extensions,
    ).toMatchObject({
      code: "BAD_USER_INPUT",
      field: "first",
    });
    expect(
      errorOf(await server.request(AssistantsDocument, { after: "garbage" })).extensions,
    ).toMatchObject({
      code: "BAD_USER_INPUT",
      field: "after",
    });
    expect(
      errorOf(await server.request(AssistantsDocument, { filter: { metadata: "x" } })).extensions,
    ).toMatchObject({ code: "BAD_USER_INPUT", field: "filter.metadata" });
  });
});

describe("missing assistants", () => {
  it("read as null; mutations on them are NOT_FOUND", async () => {
    const id = "6a3b1c9e-0000-4000-8000-00000000dead";
    expect((await server.query(AssistantDocument, { id })).assistant).toBeNull();
    expect((await server.query(AssistantDocument, { id: "not-a-uuid" })).assistant).toBeNull();
    const update = await server.request(UpdateAssistantDocument, { id, input: { name: "x" } });
    expect(errorOf(update).extensions.code).toBe("NOT_FOUND");
    const deleted = await server.request(DeleteAssistantDocument, { id });
    expect(errorOf(deleted).extensions.code).toBe("NOT_FOUND");
  });

  it("deleteAssistant removes it with its versions", async () => {
    const made = await create({ name: "doomed" });
    expect((await server.query(DeleteAssistantDocument, { id: made.id })).deleteAssistant).toBe(
      made.id,
    );
    expect((await server.query(AssistantDocument, { id: made.id })).assistant).toBeNull();
    const client = new pg.Client({ connectionString: server.db.url });
    await client.connect();
    const versions = await client.query("SELECT 1 FROM assistant_version WHERE assistant_id = $1", [
      made.id,
    ]);
    await client.end();
    expect(versions.rowCount).toBe(0);
  });
});
