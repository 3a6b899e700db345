// Apollo Client 4 with its persisted-query link, against the Kizuna server at argv[2].
// Each flow sends one query twice with a fresh cache: the link first sends the hash alone,
// retries with the text on PersistedQueryNotFound, then sends the hash alone again.
// Prints every HTTP exchange as JSON lines for the test to check.
import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { createPersistedQueryLink } from "@apollo/client/link/persisted-queries";
import { createHash } from "node:crypto";

const url = process.argv[2];
const sha256 = (text) => createHash("sha256").update(text).digest("hex");

function client(flow, useGETForHashedQueries) {
  const logged = async (input, init = {}) => {
    const response = await fetch(input, init);
    const body = await response.clone().text();
    console.log(JSON.stringify({
      flow,
      method: init.method ?? "GET",
      url: String(input),
      sent: init.body ?? null,
      accept: new Headers(init.headers ?? {}).get("accept"),
      status: response.status,
      type: response.headers.get("content-type"),
      etag: response.headers.get("etag"),
      answer: body,
    }));
    return response;
  };
  const link = createPersistedQueryLink({ sha256, useGETForHashedQueries }).concat(
    new HttpLink({ uri: url, fetch: logged }),
  );
  return new ApolloClient({ link, cache: new InMemoryCache() });
}

const flows = [
  ["post", false, gql`query LandingPost { programRules { name howToEarn } }`],
  ["get", true, gql`query LandingGet { programRules { name description } }`],
];
for (const [flow, useGET, query] of flows) {
  const apollo = client(flow, useGET);
  for (let attempt = 0; attempt < 2; attempt += 1) {
    const result = await apollo.query({ query, fetchPolicy: "network-only" });
    console.log(JSON.stringify({ flow, result: result.data, error: result.error?.message ?? null }));
  }
}
