%% EUnit tests of the exporter's pure parts (rebar3 eunit / mix-free: erlc + eunit:test/1,
%% run by test/interop/erlang-exporter.test.ts).
-module(covgate_exporter_tests).
%% Without eunit.hrl (Debian ships it in erlang-dev, not erlang-nox): plain
%% test functions and a small equality check.
-compile([export_all, nowarn_export_all]).

-define(M, covgate_exporter).

parse_listen_test() ->
    eq({ok, {"127.0.0.1", 0}}, ?M:parse_listen("0")),
    eq({ok, {"127.0.0.1", 9100}}, ?M:parse_listen(9100)),
    eq({ok, {"0.0.0.0", 9100}}, ?M:parse_listen(":9100")),
    eq({ok, {"10.0.0.2", 80}}, ?M:parse_listen("10.0.0.2:80")),
    eq({ok, {"::1", 0}}, ?M:parse_listen("[::1]:0")),
    eq({ok, {"127.0.0.1", 7}}, ?M:parse_listen(<<"127.0.0.1:7">>)),
    {error, "listen must be" ++ _} = ?M:parse_listen("host:http"),
    {error, _} = ?M:parse_listen("1:70000"),
    {error, _} = ?M:parse_listen(-1).

parse_ttl_test() ->
    eq({ok, 60000}, ?M:parse_ttl(60)),
    eq({ok, 60000}, ?M:parse_ttl("60s")),
    eq({ok, 120000}, ?M:parse_ttl("2m")),
    eq({ok, 500}, ?M:parse_ttl("500ms")),
    eq({ok, 3600000}, ?M:parse_ttl("1h")),
    {error, "ttl must be" ++ _} = ?M:parse_ttl("soon"),
    {error, _} = ?M:parse_ttl("5d"),
    {error, _} = ?M:parse_ttl(0).

parse_labels_test() ->
    eq([{"release", "2026.11"}, {"team", "a b"}, {"x", ""}],
       ?M:parse_labels(" release=2026.11, team = a b ,,x")).

relative_path_test() ->
    eq("src/a.erl", ?M:relative_path("/build/app/src/a.erl", "/build/app")),
    eq("src/a.erl", ?M:relative_path("/build/app/src/a.erl", "/build/app/")),
    eq("/elsewhere/a.erl", ?M:relative_path("/elsewhere/a.erl", "/build/app")),
    %% a sibling directory sharing a name prefix is not "below" the root
    eq("/build/app2/a.erl", ?M:relative_path("/build/app2/a.erl", "/build/app")).

line_map_test() ->
    %% Line 0 (compiler-generated) is left out; lines between executable ones are null;
    %% two modules of one file (Elixir nested modules) add up per line.
    Map = ?M:line_map([{"lib/a.ex", [{{a, 0}, 9}, {{a, 2}, 3}, {{a, 4}, 0}]},
                       {"lib/a.ex", [{{'a.B', 6}, 1}, {{'a.B', 2}, 1}]},
                       {"src/none.erl", [{{none, 0}, 1}]}]),
    eq(#{<<"lib/a.ex">> => #{<<"1">> => null, <<"2">> => 4, <<"3">> => null, <<"4">> => 0,
                                       <<"5">> => null, <<"6">> => 1}}, Map).

json_test() ->
    Text = iolist_to_binary(covgate_exporter_json:encode(
             #{a => [1, true, false, null], <<"b\"\\\n\t\x01">> => <<"é ✓"/utf8>>, c => #{}, d => ok})),
    eq(<<"{\"a\":[1,true,false,null],\"b\\\"\\\\\\n\\t\\u0001\":\"", "é ✓"/utf8,
                   "\",\"c\":{},\"d\":\"ok\"}">>, Text).

eq(Expected, Expected) -> ok;
eq(Expected, Actual) -> erlang:error({not_equal, #{expected => Expected, actual => Actual}}).

lease_id_test() ->
    eq({ok, <<"ab-1">>}, ?M:lease_id(<<"{\"id\":\"ab-1\",\"expiresAt\":\"2026\"}">>)),
    eq({ok, <<"a\"b\\c", "é"/utf8>>}, ?M:lease_id(<<"{\"expiresAt\":\"x\", \"id\" : \"a\\\"b\\\\c\\u00e9\"}">>)),
    error = ?M:lease_id(<<"{\"status\":\"error\"}">>).
