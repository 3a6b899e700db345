// Runs graphql-http's server audit (the GraphQL over HTTP spec's checks) against the URL
// given as the first argument and prints one JSON array: each audit's id, name, status
// ("ok", "warn" or "error") and, when it did not pass, the reason and the status code.
import { serverAudits } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs <graphql endpoint URL>');
  process.exit(2);
}

const results = [];
for (const { fn } of serverAudits({ url })) {
  // One at a time: the server under test shares a small machine with the test suite.
  const result = await fn();
  results.push({
    id: result.id,
    name: result.name,
    status: result.status,
    reason: result.status === 'ok' ? null : result.reason,
    responseStatus: result.status === 'ok' ? null : (result.response?.status ?? null),
  });
}
process.stdout.write(JSON.stringify(results));
