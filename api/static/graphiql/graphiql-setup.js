// Starts GraphiQL (with the explorer plugin) on this page; loaded after the vendored React,
// ReactDOM, GraphiQL and plugin builds, which define the globals used here. A file of its own
// because the page's Content-Security-Policy allows no inline script.
"use strict";

(function () {
  const DEFAULT_QUERY = `# Kizuna's GraphQL playground, served by the server itself.
#
# Sign in with the signIn mutation, then put the access token in the Headers tab below:
#   {"Authorization": "Bearer <accessToken>"}
# The Docs button (top left) documents every type and field.
#
# Run a query with Ctrl-Enter (or the play button); Ctrl-Space completes.

{
  __typename
}
`;

  // The endpoint is this page's own URL (GET /graphql serves the page to browsers and
  // GraphQL to everyone else), so a server behind a path prefix still works.
  const endpoint = new URL(window.location.href);
  endpoint.search = "";
  endpoint.hash = "";
  const subscriptions = new URL(endpoint.href);
  subscriptions.protocol = endpoint.protocol === "https:" ? "wss:" : "ws:";

  // Shared links: /graphql?q=…&variables=… opens with that operation in the editor (not
  // ?query=, which asks the server to run the query instead of serving this page).
  const parameters = new URLSearchParams(window.location.search);

  // GraphiQL sends the Headers tab's headers with every HTTP request, and as the
  // connection_init payload of the WebSocket it opens for subscriptions.
  const fetcher = GraphiQL.createFetcher({
    url: endpoint.href,
    subscriptionUrl: subscriptions.href,
  });

  function Playground() {
    return React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: DEFAULT_QUERY,
      query: parameters.get("q") ?? undefined,
      variables: parameters.get("variables") ?? undefined,
      plugins: [GraphiQLPluginExplorer.explorerPlugin()],
      defaultEditorToolsVisibility: true,
      isHeadersEditorEnabled: true,
      inputValueDeprecation: true,
      // Headers hold bearer tokens: they are not kept in localStorage, where anything else
      // that ever runs on this origin could read them.
      shouldPersistHeaders: false,
    });
  }

  ReactDOM.createRoot(document.getElementById("graphiql")).render(
    React.createElement(Playground),
  );
})();
