package dev.timerkernel.client;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.UncheckedIOException;

/** JSON bodies for the stub server, written with single quotes for readability. */
final class Fixtures {
    private Fixtures() {}

    static String json(String quoted) {
        return quoted.replace('\'', '"');
    }

    static JsonNode tree(String quoted) {
        return parse(json(quoted));
    }

    static JsonNode parse(String text) {
        try {
            return Json.MAPPER.readTree(text);
        } catch (IOException exc) {
            throw new UncheckedIOException(exc);
        }
    }

    /** A timer as the server sends it. */
    static String timer(String namespace, String id) {
        return json("{'namespace': '" + namespace + "', 'id': '" + id + "',"
                + " 'fire_at': '2026-12-03T08:00:00.000Z',"
                + " 'callback': {'url': 'https://hooks.example/fire', 'timeout_seconds': 2.5,"
                + "              'headers': {'Authorization': 'Bearer cb'}},"
                + " 'payload': {'cart': 77, 'items': ['a', 'b'], 'gift': false, 'note': null},"
                + " 'retry_policy': {'max_attempts': 5, 'initial_interval_seconds': 0.5,"
                + "                  'backoff_coefficient': 3.0, 'max_interval_seconds': 60.0,"
                + "                  'max_duration_seconds': 3600.0},"
                + " 'status': 'failed', 'attempts': 5, 'next_attempt_at': null,"
                + " 'last_error': {'at': '2026-12-03T08:05:00.250Z', 'kind': 'http_status',"
                + "                'message': 'the callback answered 502', 'status_code': 502},"
                + " 'created_at': '2026-12-01T10:00:00.000Z', 'updated_at': '2026-12-03T08:05:00.250Z',"
                + " 'executed_at': null, 'version': 7}");
    }

    /** A fresh scheduled timer as the server sends it. */
    static String scheduled(String namespace, String id, String fireAt) {
        return json("{'namespace': '" + namespace + "', 'id': '" + id + "', 'fire_at': '" + fireAt + "',"
                + " 'callback': {'url': 'https://hooks.example/fire', 'timeout_seconds': 10.0, 'headers': {}},"
                + " 'payload': null,"
                + " 'retry_policy': {'max_attempts': 10, 'initial_interval_seconds': 1.0,"
                + "                  'backoff_coefficient': 2.0, 'max_interval_seconds': 600.0,"
                + "                  'max_duration_seconds': null},"
                + " 'status': 'scheduled', 'attempts': 0, 'next_attempt_at': '" + fireAt + "', 'last_error': null,"
                + " 'created_at': '2026-12-01T10:00:00.000Z', 'updated_at': '2026-12-01T10:00:00.000Z',"
                + " 'executed_at': null, 'version': 1}");
    }

    static String error(String code, String message, String detailsQuoted) {
        return json(
                "{'error': {'code': '" + code + "', 'message': '" + message + "', 'details': " + detailsQuoted + "}}");
    }
}
