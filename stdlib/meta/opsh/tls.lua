---@meta
--- Certificates of files and live endpoints: `local tls = require "opsh.tls"`.
--- The guide's `openssl x509 -checkend` and `openssl s_client`, natively (libcrypto and libssl,
--- opened on first use). A chain is verified at the current time against the system's trust
--- store, or against `ca_file` when given: an expired certificate does not verify.
--- An endpoint's connect and handshake wait on opsh's event loop, so endpoints probed inside
--- tasks (`opsh.all`) are probed concurrently. Everything here only reads.
---
--- Failures return nil, err: err.code is "file" (cannot read), "parse" (no certificate: neither
--- PEM nor DER, or a broken one), "ca_file", "resolve", "connect", "timeout", "handshake" or
--- "unavailable" (libssl missing); err.message names the file or host:port, as err.source does.
local tls = {}

---@class tls.certificate
---@field subject string one line, "CN=api.example.com, O=Example"
---@field common_name string|nil the subject's CN
---@field issuer string
---@field dns_names string[] subjectAltName DNS entries
---@field ip_addresses string[] subjectAltName IP entries ("127.0.0.1", "::1")
---@field serial string upper-case hex, as `openssl x509 -serial` prints it
---@field not_before integer Unix seconds
---@field not_after integer Unix seconds
---@field days_left number days until not_after, from now (negative once expired)
---@field expired boolean
---@field not_yet_valid boolean
---@field signature_algorithm string "sha256WithRSAEncryption", "ecdsa-with-SHA256", ...
---@field key_type string "RSA", "EC", "ED25519", ...
---@field key_bits integer
---@field fingerprint_sha256 string lower-case hex of the DER's SHA-256
---@field self_signed boolean
---@field is_ca boolean

---@class tls.report: tls.certificate the leaf's fields, and:
---@field source string the file's path or "host:port"
---@field chain tls.certificate[] leaf first, then the rest of the file or the server's chain
---@field verified boolean whether the chain verifies against trust_store now
---@field verify_error string|nil OpenSSL's reason when not ("certificate has expired", "self-signed certificate", "unable to get local issuer certificate", ...)
---@field verify_code integer OpenSSL's X509_V_* code (0 when verified)
---@field trust_store string "system" or the CA file
---@field hostname string|nil the name checked against the leaf (an endpoint's server name, or opts.hostname)
---@field hostname_ok boolean|nil whether the leaf is valid for hostname (SANs, wildcards, IP SANs for an IP)
---@field protocol string|nil an endpoint's negotiated version ("TLSv1.3")
---@field cipher string|nil an endpoint's cipher suite

--- The certificates of a PEM file (any number of CERTIFICATE blocks, leaf first) or a DER file.
---@param path string
---@param opts? {ca_file?: string, hostname?: string} ca_file: verify against it instead of the system store; hostname: check the leaf for it
---@return tls.report|nil report, table? err
function tls.file(path, opts) end

--- The chain a live server presents: a TCP connect and TLS handshake with SNI (the server name,
--- unless it is an IP literal), within timeout seconds (default 10) for the whole. The chain is
--- read whether it verifies or not; the leaf is checked against the server name.
---@param target string "host:port", "[v6]:port", or a host (port 443)
---@param opts? {ca_file?: string, server_name?: string, timeout?: number} server_name: SNI and the name checked (default the host)
---@return tls.report|nil report, table? err
function tls.endpoint(target, opts) end

--- "host:port" split (port 443 when absent); nil when malformed.
---@param target string
---@return string|nil host, integer? port
function tls.parse_target(target) end

return tls
