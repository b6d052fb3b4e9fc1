"""docs/agent-openapi.yaml as a response checker: the operation's documented status (or its
default), its content type, and the body against the schema (JSON Schema 2020-12, as OpenAPI 3.1)."""
import re

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012


class Spec:
    def __init__(self, path):
        self.doc = yaml.safe_load(open(path))
        self.registry = Registry().with_resource("urn:agent-openapi", Resource(contents=self.doc, specification=DRAFT202012))

    def operation(self, method, path):
        path = path.split("?", 1)[0]
        item = self.doc["paths"].get(path)
        assert item is not None, f"{path} is not in docs/agent-openapi.yaml"
        op = item.get(method.lower())
        return op

    def response(self, op, status):
        responses = op["responses"]
        r = responses.get(str(status)) or responses.get("default")
        assert r is not None, f"status {status} is not documented"
        if "$ref" in r:
            name = r["$ref"].split("/")[-1]
            r = self.doc["components"]["responses"][name]
        return r

    def validate(self, method, path, response):
        """Fails unless the response is what the spec says for its operation and status."""
        op = self.operation(method, path)
        if op is None:   # a method the path does not take: the answer is the Error shape
            assert response.status_code == 405, response.text
            self.check_body({"$ref": "urn:agent-openapi#/components/schemas/Error"}, response.json())
            return
        r = self.response(op, response.status_code)
        content = r.get("content", {})
        ctype = response.headers.get("content-type", "").split(";")[0]
        assert ctype in content, f"{method} {path} {response.status_code}: content type {ctype!r} is not documented"
        schema = content[ctype].get("schema")
        if ctype == "application/json":
            self.check_body(schema, response.json())

    def check_body(self, schema, body):
        schema = self.rebase(schema)
        v = Draft202012Validator(schema, registry=self.registry)
        errors = sorted(v.iter_errors(body), key=lambda e: e.path)
        assert not errors, "; ".join(f"{list(e.path)}: {e.message}" for e in errors[:5])

    def rebase(self, schema):
        """#/components/... refs point into the registered document."""
        if isinstance(schema, dict):
            return {k: (re.sub(r"^#", "urn:agent-openapi#", v) if k == "$ref" else self.rebase(v)) for k, v in schema.items()}
        if isinstance(schema, list):
            return [self.rebase(x) for x in schema]
        return schema

    def endpoints(self):
        for path, item in self.doc["paths"].items():
            for method, op in item.items():
                yield method.upper(), path, op
