# feedsvc behind Varnish 7 (Debian: apt install varnish varnish-modules).
#
# Feeds and pages are kept as long as feedsvc's Surrogate-Control says (CDN_MAX_AGE, a feed's
# cut short at the next scheduled publication) and purged by surrogate key the moment they
# change (a page by the keys of what it shows: its scope, its article): feedsvc's
# worker sends "PURGE /" with "xkey-purge: <keys>" (CDN_PURGE=varnish:http://127.0.0.1:6081/).
# While feedsvc is up nothing stale is served; while it is down (its /healthz probe fails)
# the last document is, for as long as its stale-if-error allows.
vcl 4.1;

import std;
import xkey;

backend feedsvc {
    .host = "127.0.0.1";
    .port = "8000";
    .connect_timeout = 2s;
    .first_byte_timeout = 30s;
    .probe = {
        .url = "/healthz";
        .interval = 1s;
        .timeout = 1s;
        .window = 3;
        .threshold = 2;
        .initial = 2;
    }
}

# Who may purge: feedsvc's worker, on this machine.
acl purgers {
    "127.0.0.1";
    "::1";
}

sub vcl_recv {
    if (req.method == "PURGE") {
        if (client.ip !~ purgers) {
            return (synth(403, "Forbidden"));
        }
        if (!req.http.xkey-purge) {
            return (synth(400, "No xkey-purge header"));
        }
        set req.http.purged = xkey.purge(req.http.xkey-purge);
        return (synth(200, "Purged " + req.http.purged));
    }
    # The API (token-bearing, never cached) and every write go straight to feedsvc.
    if (req.url ~ "^/api(/|\?|$)" || req.method != "GET" && req.method != "HEAD") {
        return (pass);
    }
    # feedsvc up: never stale (a change is purged, an embargo's lifetime ends at its instant).
    # feedsvc down: the stored grace, which is the origin's stale-if-error.
    if (std.healthy(req.backend_hint)) {
        set req.grace = 0s;
    }
    # Otherwise the built-in vcl_recv: Authorization or Cookie pass, gzip normalised (Vary).
}

sub vcl_backend_response {
    if (beresp.status >= 500) {
        # Never cached; a failed refresh leaves the stored document in place.
        if (bereq.is_bgfetch) {
            return (abandon);
        }
        set beresp.ttl = 0s;
        set beresp.uncacheable = true;
        return (deliver);
    }
    if (!beresp.http.Surrogate-Control && beresp.http.CDN-Cache-Control) {
        set beresp.http.Surrogate-Control = beresp.http.CDN-Cache-Control;
    }
    if (beresp.http.Surrogate-Control ~ "(^|[,\s])max-age=[0-9]+") {
        # The shared caches' lifetime (RFC 9213), and stale-if-error (RFC 5861) as grace.
        set beresp.ttl = std.duration(regsub(beresp.http.Surrogate-Control,
            "^(.*[,\s])?max-age=([0-9]+).*$", "\2") + "s", 0s);
        set beresp.grace = 0s;
        if (beresp.http.Surrogate-Control ~ "stale-if-error=[0-9]+") {
            set beresp.grace = std.duration(regsub(beresp.http.Surrogate-Control,
                "^.*stale-if-error=([0-9]+).*$", "\1") + "s", 0s);
        }
        unset beresp.http.Surrogate-Control;
        return (deliver);
    }
    if (!beresp.http.Cache-Control && !beresp.http.Expires) {
        # Nothing said how long (a problem+json 404 of a scope not public yet): not kept.
        set beresp.ttl = 5s;
        set beresp.uncacheable = true;
        return (deliver);
    }
    # Otherwise the built-in rules: Cache-Control (without CDN_MAX_AGE pages say no-cache: not kept).
}

sub vcl_backend_error {
    # feedsvc unreachable while refreshing a stored document: keep serving that one.
    if (bereq.is_bgfetch) {
        return (abandon);
    }
}

sub vcl_deliver {
    unset resp.http.xkey;
    if (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
}
