#ifndef ORBITER_COPENSSL_SHIM_H
#define ORBITER_COPENSSL_SHIM_H
// The system's OpenSSL (Debian 12: 3.0) as seen from Swift: the TLS transport of rediss:// URLs
// (OrbiterRedis/TLSStream.swift). Some of the API is macros over SSL_ctrl, which Swift cannot
// import: these static inline wrappers give them types.
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

static inline int orbiter_ssl_ctx_set_min_tls12(SSL_CTX *ctx) {
    return (int)SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
}

static inline int orbiter_ssl_set_sni(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}

static inline long orbiter_ssl_ctx_set_mode_auto_retry(SSL_CTX *ctx) {
    return SSL_CTX_set_mode(ctx, SSL_MODE_AUTO_RETRY);
}
#endif
