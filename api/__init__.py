"""The composition root: settings, the HTTP routes (GraphQL, health, QR images, JWKS, the
scanner page), the `kizuna` command and the background jobs every instance runs."""
