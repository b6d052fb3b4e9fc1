"""OpenAPI 3.0 (Qdrant v1.19.0 openapi.json) loading, routing and validation for the stand-in.

The spec is not checked for validity here (that is a test); this module only turns it into a
path router and JSON-Schema validators (Draft 4 semantics, OpenAPI's `nullable` rewritten to
JSON-Schema `null` types), and finds unknown fields for --strict.
"""
import copy
import json
import os
import re

import jsonschema
from jsonschema import Draft4Validator

HERE = os.path.dirname(os.path.abspath(__file__))


def default_spec_path():
    env = os.environ.get("QDRANT_STANDIN_SPEC")
    if env:
        return env
    for cand in (os.path.join(HERE, "openapi.json"),  # vendored copy (see README: Spec)
                 os.path.join(HERE, "..", "..", "..", "shared", "qdrant", "openapi.json")):
        if os.path.exists(cand):
            return os.path.abspath(cand)
    raise SystemExit("qdrant-standin: openapi.json not found (set QDRANT_STANDIN_SPEC or --spec)")


def _rewrite_nullable(node):
    """OpenAPI 3.0 `nullable: true` -> JSON Schema null types (in place, recursively)."""
    if isinstance(node, list):
        for x in node:
            _rewrite_nullable(x)
        return
    if not isinstance(node, dict):
        return
    for v in list(node.values()):
        _rewrite_nullable(v)
    if node.pop("nullable", False):
        if "type" in node:
            t = node["type"]
            node["type"] = [t, "null"] if isinstance(t, str) else list(t) + ["null"]
            if "enum" in node and None not in node["enum"]:
                node["enum"] = list(node["enum"]) + [None]
        elif any(k in node for k in ("$ref", "anyOf", "oneOf", "allOf", "properties")):
            inner = {k: node.pop(k) for k in list(node.keys()) if k not in ("description", "default", "example")}
            node["anyOf"] = [inner, {"type": "null"}]
        else:
            node["type"] = "null"


# error kinds that Qdrant reports as 422 "Validation error" (range / length checks done by
# the `validator` crate), everything else is a serde format error (400)
RANGE_KEYWORDS = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength",
                  "maxLength", "minItems", "maxItems", "uniqueItems", "multipleOf"}


def _unsigned(schema):
    f = schema.get("format") if isinstance(schema, dict) else None
    return isinstance(f, str) and f.startswith("uint") and schema.get("minimum") == 0


RUST_UINT = {"uint": "usize", "uint64": "u64", "uint32": "u32", "uint16": "u16", "uint8": "u8"}


def _strip_ranges(node):
    """the schema as serde sees it: types only (a `minimum: 0` of an unsigned integer is a type, too)"""
    if isinstance(node, dict):
        for k in list(node):
            if k == "minimum" and _unsigned(node):
                continue
            if k in RANGE_KEYWORDS and not isinstance(node[k], dict):
                del node[k]
            else:
                _strip_ranges(node[k])
    elif isinstance(node, list):
        for x in node:
            _strip_ranges(x)
    return node


def _closest(err):
    """Of an anyOf/oneOf failure, the sub-error of the branch that came nearest to matching."""
    by_branch = {}
    for e in err.context:
        by_branch.setdefault(e.relative_schema_path[0], []).append(e)

    def score(errs):
        return (len(errs), -max(len(e.absolute_path) for e in errs))
    errs = min(by_branch.values(), key=score)
    return max(errs, key=lambda e: len(e.absolute_path))


class Spec:
    def __init__(self, path=None):
        self.path = path or default_spec_path()
        with open(self.path) as f:
            raw = json.load(f)
        self.raw = raw
        doc = copy.deepcopy(raw)
        _rewrite_nullable(doc.get("components", {}))
        for p in doc.get("paths", {}).values():
            _rewrite_nullable(p)
        self.doc = doc
        self.version = raw.get("info", {}).get("version", "1.19.0")
        self._validators = {}
        self._types_components = None
        # routes: list of (method, template, regex, param names, op) ordered so that literal
        # segments win over parameters
        routes = []
        for tmpl, item in doc["paths"].items():
            names = re.findall(r"{([^}]+)}", tmpl)
            rx = "^" + re.sub(r"{[^}]+}", "([^/]+)", re.escape(tmpl).replace(r"\{", "{").replace(r"\}", "}")) + "$"
            for method, op in item.items():
                if method.lower() in ("get", "put", "post", "patch", "delete", "head"):
                    routes.append((method.upper(), tmpl, re.compile(rx), names, op))
        routes.sort(key=lambda r: (len(r[3]), -len(r[1])))
        self.routes = routes

    def match(self, method, path):
        """-> (template, params, op) or (None, None, None) if no path matches, ('405', ..) if path but not method."""
        path_hit = False
        for m, tmpl, rx, names, op in self.routes:
            mo = rx.match(path)
            if not mo:
                continue
            path_hit = True
            if m != method:
                continue
            from urllib.parse import unquote
            return tmpl, {n: unquote(v) for n, v in zip(names, mo.groups())}, op
        return ("405" if path_hit else None), None, None

    def validator(self, schema, types_only=False):
        key = (types_only, json.dumps(schema, sort_keys=True))
        v = self._validators.get(key)
        if v is None:
            full = dict(schema)
            if types_only:
                if self._types_components is None:
                    self._types_components = _strip_ranges(copy.deepcopy(self.doc["components"]))
                full = _strip_ranges(copy.deepcopy(full))
                full["components"] = self._types_components
            else:
                full["components"] = self.doc["components"]
            v = Draft4Validator(full)
            self._validators[key] = v
        return v

    def schema_for_ref(self, ref_name):
        return {"$ref": "#/components/schemas/" + ref_name}

    # ------------------------------------------------------------------ validation helpers
    def body_errors(self, schema, instance):
        """-> None or (status, message) in Qdrant's style: a body whose types do not fit is a serde
        format error (400); one that parses but breaks a range/length rule is a validation error (422)."""
        errors = list(self.validator(schema).iter_errors(instance))
        if not errors:
            return None
        type_errors = list(self.validator(schema, types_only=True).iter_errors(instance))
        if type_errors:
            return 400, "Format error in JSON body: %s" % self._describe(type_errors)
        return 422, "Validation error in JSON body: [%s]" % self._describe(errors, brief=True)

    def _describe(self, errors, brief=False):
        err = max(errors, key=jsonschema.exceptions.relevance)
        prefix = ""
        while err.validator in ("anyOf", "oneOf") and err.context:
            branches = [b for b in err.schema[err.validator] if b != {"type": "null"}]
            if len(branches) > 1 and not prefix and not brief:
                at = ".".join(str(p) for p in err.absolute_path)
                prefix = "data did not match any variant of untagged enum%s (closest: " % ((" at `%s`" % at) if at else "")
            err = _closest(err)
        where = ".".join(str(p) for p in err.absolute_path)
        msg = err.message
        if err.validator == "minimum" and _unsigned(err.schema):
            msg = "invalid value: integer `%s`, expected %s" % (err.instance, RUST_UINT.get(err.schema["format"], "u64"))
        if len(msg) > 300:
            msg = msg[:300] + "..."
        if brief:
            return "%s: %s" % (where or "body", msg)
        detail = "%s%s" % (msg, (" at `%s`" % where) if where else "")
        return prefix + detail + (")" if prefix else "")

    def resolve(self, schema):
        while isinstance(schema, dict) and "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            schema = self.doc["components"]["schemas"][name]
        return schema

    def unknown_fields(self, schema, instance, path=""):
        """Names of fields in `instance` that `schema` does not declare (list of dotted paths)."""
        if isinstance(instance, list):
            if not instance or not isinstance(instance[0], (dict, list)):
                return []
            s = self.resolve(schema)
            items = s.get("items") if isinstance(s, dict) else None
            if items is None:
                return self._branches(s, instance, path)
            out = []
            for i, x in enumerate(instance):
                out += self.unknown_fields(items, x, "%s[%d]" % (path, i))
            return out
        if not isinstance(instance, dict):
            return []
        s = self.resolve(schema)
        if not isinstance(s, dict):
            return []
        if "anyOf" in s or "oneOf" in s or "allOf" in s:
            return self._branches(s, instance, path)
        props = s.get("properties")
        if props is None:
            return []  # free-form object (payload, maps)
        out = []
        for k, val in instance.items():
            p = (path + "." + k) if path else k
            if k not in props:
                if isinstance(s.get("additionalProperties"), dict):
                    out += self.unknown_fields(s["additionalProperties"], val, p)
                else:
                    out.append((p, sorted(props)))
            else:
                out += self.unknown_fields(props[k], val, p)
        return out

    def _type_fits(self, schema, instance):
        t = self.resolve(schema).get("type") if isinstance(self.resolve(schema), dict) else None
        if t is None:
            return True
        types = [t] if isinstance(t, str) else t
        want = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(instance))
        if want == "object" and "object" in types:
            req = self.resolve(schema).get("required") or []
            return all(k in instance for k in req)
        if want is None:  # int/float
            return "number" in types or ("integer" in types and isinstance(instance, int))
        return want in types

    def _branches(self, s, instance, path):
        if "allOf" in s:
            merged = {"properties": {}}
            for b in s["allOf"]:
                b = self.resolve(b)
                merged["properties"].update(b.get("properties", {}))
            return self.unknown_fields(merged, instance, path)
        branches = [b for b in (s.get("anyOf") or s.get("oneOf") or []) if self._type_fits(b, instance)]
        if len(branches) == 1:
            return self.unknown_fields(branches[0], instance, path)
        best = None
        for b in branches:
            if not self.validator(b).is_valid(instance):
                continue
            u = self.unknown_fields(b, instance, path)
            if not u:
                return []
            if best is None or len(u) < len(best):
                best = u
        return best or []
