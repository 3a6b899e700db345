"""The GraphQL API (strawberry): types, inputs, payloads, resolvers, loaders, permissions."""
