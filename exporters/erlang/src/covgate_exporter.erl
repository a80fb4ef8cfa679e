%% The covgate exporter for Erlang and Elixir nodes.
%%
%% On start it cover-compiles the modules of the configured applications in
%% the running node (their beams must keep debug_info), adds the configured
%% remote nodes to cover (cover loads the compiled modules there and collects
%% their counts on every analysis, so one exporter serves an OTP cluster),
%% serves GET /coverage and POST /coverage/reset over inets httpd, and, when a
%% gateway is configured, holds a self-registration lease there
%% (POST /api/v1/targets, renewed at ttl/3, DELETE on stop), like
%% exporters/node. Settings: application env, overridden by COVGATE_*
%% variables (see covgate_exporter.app.src and README.md).
-module(covgate_exporter).
-behaviour(gen_server).

-export([start_link/0, envelope/0, reset/0, url/0, info/0, covered_modules/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).
%% Pure helpers, exported for the tests.
-export([parse_listen/1, parse_ttl/1, parse_labels/1, relative_path/2, line_map/1, lease_id/1]).

-define(IDENTITY, {?MODULE, identity}).
-define(HTTPC_PROFILE, covgate_exporter).
-define(RETRY_NODES_MS, 5000).

-record(state, {
    httpd :: pid() | undefined,
    url :: binary(),
    nodes :: [node()] | connected,
    gateway :: string() | undefined,
    registration :: binary() | undefined,   % the JSON body posted to the gateway
    token :: string() | undefined,
    ttl_ms :: pos_integer(),
    lease :: binary() | undefined,          % the id the gateway gave us
    failures = 0 :: non_neg_integer(),
    timer :: reference() | undefined
}).

%%% API

start_link() -> gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

%% The covgate envelope of everything covered now, on every node in cover.
-spec envelope() -> map().
envelope() ->
    #{instance := Instance, start_time := StartTime, build := Build, paths := Paths} = identity(),
    Covered = cover:modules(),
    Modules = [M || M <- maps:keys(Paths), lists:member(M, Covered)],
    Files = line_map([{maps:get(M, Paths), Lines} || {M, Lines} <- analyse(Modules)]),
    #{format => coveralls, instance => Instance, startTime => StartTime, build => Build,
      counters => cumulative, data => #{files => Files}}.

%% Zeroes the counts of every cover-compiled module on every covered node.
-spec reset() -> ok.
reset() -> cover:reset().

-spec url() -> binary().
url() -> gen_server:call(?MODULE, url).

%% What the exporter covers and what it could not (modules without debug_info).
-spec info() -> map().
info() -> maps:merge(identity(), gen_server:call(?MODULE, info)).

covered_modules() ->
    Covered = cover:modules(),
    [M || M <- maps:keys(maps:get(paths, identity())), lists:member(M, Covered)].

%%% Pure helpers

%% "host:port", ":port", "[v6]:port", "port" or a port number -> {Host, Port}.
-spec parse_listen(string() | integer()) -> {ok, {string(), inet:port_number()}} | {error, string()}.
parse_listen(Port) when is_integer(Port), Port >= 0, Port < 65536 -> {ok, {"127.0.0.1", Port}};
parse_listen(Text) when is_list(Text); is_binary(Text) ->
    S = string:trim(unicode:characters_to_list(Text)),
    {Host, PortText} = case string:split(S, ":", trailing) of
                           [P] -> {"127.0.0.1", P};
                           ["", P] -> {"0.0.0.0", P};
                           [H, P] -> {string:trim(H, both, "[]"), P}
                       end,
    case string:to_integer(PortText) of
        {N, ""} when N >= 0, N < 65536 -> {ok, {Host, N}};
        _ -> {error, "listen must be host:port, :port or a port number, got " ++ S}
    end;
parse_listen(Other) -> {error, lists:flatten(io_lib:format("listen must be host:port, got ~p", [Other]))}.

%% "60s", "2m", "1h", "500ms" or a number of seconds -> milliseconds.
-spec parse_ttl(string() | integer()) -> {ok, pos_integer()} | {error, string()}.
parse_ttl(N) when is_integer(N), N > 0 -> {ok, N * 1000};
parse_ttl(Text) when is_list(Text) ->
    case string:to_integer(string:trim(Text)) of
        {N, Unit} when is_integer(N), N > 0 ->
            case Unit of
                "" -> {ok, N * 1000};
                "s" -> {ok, N * 1000};
                "ms" -> {ok, N};
                "m" -> {ok, N * 60000};
                "h" -> {ok, N * 3600000};
                _ -> {error, "ttl must be like 60s, 2m or 500ms, got " ++ Text}
            end;
        _ -> {error, "ttl must be like 60s, 2m or 500ms, got " ++ Text}
    end;
parse_ttl(Other) -> {error, lists:flatten(io_lib:format("ttl must be like 60s, got ~p", [Other]))}.

%% "k=v,k=v" -> [{K, V}].
parse_labels(Text) ->
    [case string:split(string:trim(KV), "=") of
         [K, V] -> {string:trim(K), string:trim(V)};
         [K] -> {string:trim(K), ""}
     end || KV <- string:lexemes(Text, ","), string:trim(KV) =/= ""].

%% A source path relative to Root when it lies below it, else unchanged.
-spec relative_path(string(), string()) -> string().
relative_path(Source, Root) ->
    Abs = filename:absname(Source),
    RootParts = filename:split(filename:absname(Root)),
    Parts = filename:split(Abs),
    case lists:prefix(RootParts, Parts) andalso length(Parts) > length(RootParts) of
        true -> filename:join(lists:nthtail(length(RootParts), Parts));
        false -> Abs
    end.

%% [{Path, [{{Mod, Line}, Calls}]}] -> #{Path => #{"Line" => Calls | null}}:
%% every line from 1 to the file's last executable line, null where cover
%% reports nothing (not executable). Line 0 (code the compiler generated) is
%% left out; modules sharing one source file (Elixir) add up per line.
line_map(PerModule) ->
    Merged = lists:foldl(
               fun({Path, Lines}, Acc) ->
                       Old = maps:get(Path, Acc, #{}),
                       New = lists:foldl(fun({{_, L}, C}, A) when L > 0 -> maps:update_with(L, fun(X) -> X + C end, C, A);
                                            (_, A) -> A
                                         end, Old, Lines),
                       Acc#{Path => New}
               end, #{}, PerModule),
    maps:from_list([{path_key(Path), with_nulls(Hits)} || {Path, Hits} <- maps:to_list(Merged), map_size(Hits) > 0]).

with_nulls(Hits) ->
    Last = lists:max(maps:keys(Hits)),
    maps:from_list([{integer_to_binary(L), maps:get(L, Hits, null)} || L <- lists:seq(1, Last)]).

path_key(Path) ->
    case unicode:characters_to_binary(Path) of
        B when is_binary(B) -> B;
        _ -> list_to_binary(Path)   % a latin-1 file name
    end.

%%% gen_server

init([]) ->
    process_flag(trap_exit, true),   % so terminate/2 deregisters on application stop
    try start(settings())
    catch throw:{bad_setting, Message} ->
        logger:error("covgate-exporter: ~s", [Message]),
        {stop, {bad_setting, Message}}
    end.

start(Env) ->
    {ok, _} = cover_start(),
    Root = maps:get(source_root, Env),
    {Paths, Failed} = cover_compile(maps:get(modules, Env), Root),
    [logger:warning("covgate-exporter: ~p not covered: ~p (releases must keep debug_info, mix: strip_beams: false)",
                    [M, R]) || {M, R} <- Failed],
    map_size(Paths) =:= 0 andalso
        logger:warning("covgate-exporter: no module is covered; set the apps (COVGATE_APPS) or modules to cover"),
    persistent_term:put(?IDENTITY, #{instance => uuid(), start_time => rfc3339_now(), build => maps:get(build, Env),
                                     paths => Paths, failed => Failed, source_root => list_to_binary(Root)}),
    _ = (catch net_kernel:monitor_nodes(true)),   % nodeup: cover is started there too
    Nodes = maps:get(nodes, Env),
    add_nodes(Nodes),
    Nodes =:= connected orelse Nodes =:= [] orelse erlang:send_after(?RETRY_NODES_MS, self(), retry_nodes),
    {Host, Port} = maps:get(listen, Env),
    Httpd = case start_httpd(Host, Port) of
                {ok, H} -> H;
                {error, Why} -> throw({bad_setting, lists:flatten(io_lib:format("cannot listen on ~s:~B: ~p", [Host, Port, Why]))})
            end,
    {port, Bound} = lists:keyfind(port, 1, httpd:info(Httpd)),
    Url = case maps:get(advertise_url, Env) of
              undefined -> iolist_to_binary(["http://", url_host(Host), ":", integer_to_list(Bound)]);
              A -> list_to_binary(A)
          end,
    #{instance := Instance} = identity(),
    logger:notice("covgate-exporter: serving coverage on ~s/coverage (instance ~s, ~B modules)",
                  [Url, Instance, map_size(Paths)]),
    State = #state{httpd = Httpd, url = Url, nodes = Nodes, gateway = maps:get(gateway, Env),
                   token = maps:get(token, Env), ttl_ms = maps:get(ttl_ms, Env),
                   registration = registration_body(Env, Url)},
    {ok, schedule(State, 0)}.

handle_call(url, _From, S) -> {reply, S#state.url, S};
handle_call(info, _From, S) ->
    {reply, #{url => S#state.url, lease => S#state.lease, nodes => cover_nodes(),
              covered => covered_modules()}, S};
handle_call(_, _From, S) -> {reply, {error, unknown_call}, S}.

handle_cast(_, S) -> {noreply, S}.

handle_info(register, S) -> {noreply, register(S#state{timer = undefined})};
handle_info(retry_nodes, S) ->
    add_nodes(S#state.nodes),
    erlang:send_after(?RETRY_NODES_MS, self(), retry_nodes),
    {noreply, S};
handle_info({nodeup, Node}, S = #state{nodes = connected}) ->
    add_nodes([Node]),
    {noreply, S};
handle_info({nodeup, Node}, S = #state{nodes = Nodes}) ->
    lists:member(Node, Nodes) andalso add_nodes([Node]),
    {noreply, S};
handle_info(_, S) -> {noreply, S}.

terminate(_Reason, S) ->
    S#state.timer =/= undefined andalso erlang:cancel_timer(S#state.timer),
    deregister(S),
    S#state.httpd =/= undefined andalso inets:stop(httpd, S#state.httpd),
    ok.

%%% cover

cover_start() ->
    case cover:start() of
        {ok, Pid} -> {ok, Pid};
        {error, {already_started, Pid}} -> {ok, Pid}
    end.

%% Cover-compiles each module from its loaded beam; returns Module => relative
%% source path for the compiled ones, and the failures with their reasons.
cover_compile(Modules, Root) ->
    Self = [?MODULE, covgate_exporter_app, covgate_exporter_sup, covgate_exporter_httpd, covgate_exporter_json],
    lists:foldl(
      fun(M, {Ok, Failed}) ->
              case lists:member(M, Self) of
                  true -> {Ok, Failed};
                  false ->
                      %% The source as compiled, read before cover replaces the module.
                      Source = module_source(M),
                      case {Source, cover:compile_beam(M)} of
                          {undefined, _} -> {Ok, [{M, no_source_in_compile_info} | Failed]};
                          {_, {ok, M}} -> {Ok#{M => relative_path(Source, Root)}, Failed};
                          {_, {error, R}} -> {Ok, [{M, R} | Failed]}
                      end
              end
      end, {#{}, []}, lists:usort(Modules)).

module_source(M) ->
    _ = code:ensure_loaded(M),
    case catch M:module_info(compile) of
        Info when is_list(Info) ->
            case proplists:get_value(source, Info) of
                S when is_list(S) -> S;
                _ -> undefined
            end;
        _ -> undefined
    end.

analyse([]) -> [];
analyse(Modules) ->
    %% One call for all modules: cover collects every remote node's counts
    %% first (moving them to this node), so counts of a node that later dies
    %% are kept up to its last analysis.
    case cover:analyse(Modules, calls, line) of
        {result, Ok, Fail} ->
            Fail =/= [] andalso logger:warning("covgate-exporter: cover:analyse failed for ~p", [Fail]),
            Grouped = lists:foldl(fun({{M, _}, _} = X, Acc) -> maps:update_with(M, fun(L) -> [X | L] end, [X], Acc) end,
                                  #{}, Ok),
            maps:to_list(Grouped)
    end.

add_nodes(connected) -> add_nodes(nodes());
add_nodes(Nodes) ->
    Missing = [N || N <- Nodes, N =/= node(), not lists:member(N, cover_nodes())],
    Up = [N || N <- Missing, net_kernel:connect_node(N) =:= true],
    Up =:= [] orelse case cover:start(Up) of
                         {ok, Started} -> logger:notice("covgate-exporter: covering nodes ~p", [Started]);
                         Other -> logger:warning("covgate-exporter: cover:start(~p): ~p", [Up, Other])
                     end.

cover_nodes() -> [N || N <- cover:which_nodes(), N =/= node()].

%%% HTTP

start_httpd(Host, Port) ->
    {ok, Addr} = bind_address(Host),
    Dir = filename:dirname(code:which(?MODULE)),   % httpd wants a server root; nothing is served from it
    Family = case tuple_size(Addr) of 8 -> inet6; 4 -> inet end,
    inets:start(httpd, [{port, Port}, {server_name, "covgate_exporter"}, {server_root, Dir},
                        {document_root, Dir}, {bind_address, Addr}, {ipfamily, Family},
                        {modules, [covgate_exporter_httpd]}]).

bind_address(Host) ->
    case inet:parse_address(Host) of
        {ok, A} -> {ok, A};
        {error, _} -> case inet:getaddr(Host, inet) of
                          {ok, A} -> {ok, A};
                          {error, _} -> throw({bad_setting, "listen: cannot resolve host " ++ Host})
                      end
    end.

url_host(Host) when Host =:= "0.0.0.0"; Host =:= "::" -> net_adm:localhost();
url_host(Host) ->
    case inet:parse_ipv6strict_address(Host) of
        {ok, _} -> "[" ++ Host ++ "]";
        _ -> Host
    end.

%%% Registration (the same body and lease as exporters/node/registration.ts)

registration_body(Env, Url) ->
    Labels0 = maps:from_list([{list_to_binary(K), list_to_binary(V)} || {K, V} <- maps:get(labels, Env)]),
    Labels = case maps:get(service, Env) of
                 undefined -> Labels0;
                 Svc -> Labels0#{<<"service">> => list_to_binary(Svc)}
             end,
    iolist_to_binary(covgate_exporter_json:encode(
                       #{job => list_to_binary(maps:get(job, Env)), url => Url, labels => Labels,
                         ttl => iolist_to_binary([integer_to_list(max(1, maps:get(ttl_ms, Env) div 1000)), "s"])})).

schedule(S = #state{gateway = undefined}, _) -> S;
schedule(S, Ms) -> S#state{timer = erlang:send_after(Ms, self(), register)}.

register(S = #state{gateway = Gateway, registration = Body, ttl_ms = Ttl}) ->
    Req = {Gateway ++ "/api/v1/targets", auth(S), "application/json", Body},
    case httpc:request(post, Req, [{timeout, 10000}], [{body_format, binary}], ?HTTPC_PROFILE) of
        {ok, {{_, Code, _}, _, Reply}} when Code =:= 200; Code =:= 201 ->
            case lease_id(Reply) of
                {ok, Id} ->
                    S#state.lease =:= undefined andalso
                        logger:notice("covgate-exporter: registered at ~s as ~s", [Gateway, Id]),
                    schedule(S#state{lease = Id, failures = 0}, max(1, Ttl div 3));
                error -> retry(S, io_lib:format("gateway answered without an id: ~s", [Reply]))
            end;
        {ok, {{_, Code, _}, _, Reply}} -> retry(S, io_lib:format("gateway answered ~B: ~s", [Code, Reply]));
        {error, Reason} -> retry(S, io_lib:format("~p", [Reason]))
    end.

%% Capped exponential backoff with equal jitter, as the node exporter does.
retry(S = #state{failures = F0, ttl_ms = Ttl}, Why) ->
    F = F0 + 1,
    (F =:= 1 orelse F rem 10 =:= 0) andalso
        logger:warning("covgate-exporter: registration at ~s failed (~s); retrying with backoff", [S#state.gateway, Why]),
    Exp = min(max(500, min(30000, max(1000, Ttl div 3))), 500 * (1 bsl min(F - 1, 16))),
    schedule(S#state{failures = F}, Exp div 2 + rand:uniform(max(1, Exp div 2))).

deregister(#state{lease = undefined}) -> ok;
deregister(S = #state{gateway = Gateway, lease = Id}) ->
    %% The gateway scrapes once more before it answers: httpd is still up.
    Url = Gateway ++ "/api/v1/targets/" ++ binary_to_list(uri_string:quote(Id)),
    case httpc:request(delete, {Url, auth(S)}, [{timeout, 5000}], [], ?HTTPC_PROFILE) of
        {ok, {{_, Code, _}, _, _}} -> logger:notice("covgate-exporter: deregistered ~s (~B)", [Id, Code]);
        {error, R} -> logger:warning("covgate-exporter: deregistration of ~s failed: ~p; the lease will expire", [Id, R])
    end.

auth(#state{token = undefined}) -> [];
auth(#state{token = T}) -> [{"authorization", "Bearer " ++ T}].

%% The gateway's reply is {"id":"…","expiresAt":"…"}; OTP < 27 has no JSON
%% decoder and this one string is all we read, so a pattern does.
lease_id(Reply) ->
    case re:run(Reply, <<"\"id\"\\s*:\\s*\"((?:[^\"\\\\]|\\\\.)*)\"">>, [{capture, all_but_first, binary}]) of
        {match, [Id]} -> {ok, unescape(Id, <<>>)};
        nomatch -> error
    end.

%% JSON string escapes of the id (\uXXXX of the Basic Multilingual Plane only).
unescape(<<$\\, $u, Hex:4/binary, R/binary>>, Acc) ->
    C = binary_to_integer(Hex, 16),
    unescape(R, <<Acc/binary, C/utf8>>);
unescape(<<$\\, C, R/binary>>, Acc) ->
    Char = case C of $n -> $\n; $t -> $\t; $r -> $\r; $b -> $\b; $f -> $\f; Other -> Other end,
    unescape(R, <<Acc/binary, Char>>);
unescape(<<C, R/binary>>, Acc) -> unescape(R, <<Acc/binary, C>>);
unescape(<<>>, Acc) -> Acc.

%%% Settings: application env, then COVGATE_* variables over it.

settings() ->
    Apps = atoms(env("COVGATE_APPS", apps, [])),
    [load_app(A) || A <- Apps],
    AppModules = lists:append([case application:get_key(A, modules) of {ok, Ms} -> Ms; undefined -> [] end
                               || A <- Apps]),
    Modules = AppModules ++ atoms(env("COVGATE_MODULES", modules, [])),
    Nodes = case env("COVGATE_NODES", nodes, []) of
                connected -> connected;
                "connected" -> connected;
                L -> atoms(L)
            end,
    Listen = setting(parse_listen(env("COVGATE_LISTEN", listen, "127.0.0.1:0")), "COVGATE_LISTEN / listen"),
    {ok, Root} = case env("COVGATE_SOURCE_ROOT", source_root, undefined) of
                     undefined -> file:get_cwd();
                     R -> {ok, filename:absname(unicode:characters_to_list(R))}
                 end,
    TtlMs = setting(parse_ttl(env("COVGATE_TTL", ttl_seconds, 60)), "COVGATE_TTL / ttl_seconds"),
    Labels = case env("COVGATE_LABELS", labels, []) of
                 L2 when is_binary(L2) -> parse_labels(binary_to_list(L2));
                 L2 when is_list(L2), L2 =/= [], is_integer(hd(L2)) -> parse_labels(L2);
                 L2 when is_map(L2) -> [{str(K), str(V)} || {K, V} <- maps:to_list(L2)];
                 L2 -> [{str(K), str(V)} || {K, V} <- L2]
             end,
    Job = case env("COVGATE_JOB", job, undefined) of
              undefined -> case {env("COVGATE_SERVICE", service, undefined), Apps} of
                               {undefined, [A1 | _]} -> atom_to_list(A1);
                               {undefined, []} -> "erlang";
                               {Svc, _} -> str(Svc)
                           end;
              J -> str(J)
          end,
    Gateway = case env("COVGATE_GATEWAY", gateway, undefined) of
                  undefined -> undefined;
                  "" -> undefined;
                  G -> string:trim(str(G), trailing, "/")
              end,
    Gateway =/= undefined andalso start_httpc(),
    #{modules => Modules, nodes => Nodes, listen => Listen, source_root => Root, ttl_ms => TtlMs,
      labels => Labels, job => Job, gateway => Gateway, service => opt_str(env("COVGATE_SERVICE", service, undefined)),
      token => opt_str(env("COVGATE_TOKEN", token, undefined)),
      advertise_url => opt_str(env("COVGATE_ADVERTISE_URL", advertise_url, undefined)),
      build => build(Apps)}.

setting({ok, Value}, _) -> Value;
setting({error, Message}, Name) -> throw({bad_setting, Name ++ ": " ++ Message}).

env(Var, Key, Default) ->
    case os:getenv(Var) of
        V when is_list(V), V =/= "" -> V;
        _ -> application:get_env(covgate_exporter, Key, Default)
    end.

atoms(Text) when is_list(Text), Text =/= [], is_integer(hd(Text)) ->
    [list_to_atom(string:trim(X)) || X <- string:lexemes(Text, ","), string:trim(X) =/= ""];
atoms(L) when is_list(L) -> [if is_atom(X) -> X; true -> list_to_atom(str(X)) end || X <- L].

str(B) when is_binary(B) -> binary_to_list(B);
str(A) when is_atom(A) -> atom_to_list(A);
str(L) when is_list(L) -> L.

opt_str(undefined) -> undefined;
opt_str(X) -> str(X).

load_app(A) ->
    case application:load(A) of
        ok -> ok;
        {error, {already_loaded, A}} -> ok;
        {error, R} -> logger:warning("covgate-exporter: application ~p not loadable: ~p", [A, R])
    end.

start_httpc() ->
    case inets:start(httpc, [{profile, ?HTTPC_PROFILE}]) of
        {ok, _} -> ok;
        {error, {already_started, _}} -> ok
    end.

build(Apps) ->
    Vsn = case {os:getenv("COVGATE_BUILD_VERSION"), Apps} of
              {V, _} when is_list(V), V =/= "" -> V;
              {_, [A | _]} -> case application:get_key(A, vsn) of {ok, V2} -> V2; undefined -> undefined end;
              _ -> undefined
          end,
    Commit = os:getenv("COVGATE_BUILD_COMMIT"),
    maps:from_list([{version, list_to_binary(Vsn)} || is_list(Vsn)] ++
                   [{commit, list_to_binary(Commit)} || is_list(Commit), Commit =/= ""]).

identity() -> persistent_term:get(?IDENTITY).

uuid() ->
    %% A version 4 UUID; crypto when the release has it, else rand (seeded per node start).
    <<A:48, _:4, B:12, _:2, C:62>> = try crypto:strong_rand_bytes(16) catch _:_ -> rand:bytes(16) end,
    <<U:128>> = <<A:48, 4:4, B:12, 2:2, C:62>>,
    Hex = io_lib:format("~32.16.0b", [U]),
    iolist_to_binary(lists:join("-", split_at(lists:flatten(Hex), [8, 4, 4, 4, 12]))).

split_at(_, []) -> [];
split_at(S, [N | Ns]) -> {H, T} = lists:split(N, S), [H | split_at(T, Ns)].

rfc3339_now() ->
    list_to_binary(calendar:system_time_to_rfc3339(erlang:system_time(millisecond), [{unit, millisecond}, {offset, "Z"}])).
