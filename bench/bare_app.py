"""The baseline for `graphql-static`: our Query and Mutation classes in a bare strawberry
ASGI app — no extensions, middleware, context getter or auth. Served by uvicorn as
`bench.bare_app:app` (importing this module builds the schema)."""

import strawberry
from strawberry.asgi import GraphQL

from schema.build import Mutation, Query

app: GraphQL[None, None] = GraphQL(strawberry.Schema(query=Query, mutation=Mutation))
