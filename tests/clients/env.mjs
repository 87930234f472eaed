// What the C# runner (tests/NexusRag.Tests/Clients/NodeClientTests.cs) hands over: a real server and its fixtures.
function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: these tests run against a server started by NodeClientTests (scripts/test.sh)`);
  return v;
}
export const baseUrl = need('NEXUSRAG_URL');          // http://127.0.0.1:PORT
export const key = need('NEXUSRAG_KEY');              // a reader of tenant A, whose corpus CORPUS holds the fixtures
export const otherKey = need('NEXUSRAG_OTHER_KEY');   // an admin of tenant B
export const corpus = need('NEXUSRAG_CORPUS');
export const gatesDoc = need('NEXUSRAG_GATES_DOC');   // a document of tenant A about release gates
export const question = 'What are the release gates for Agent 2.0?';
