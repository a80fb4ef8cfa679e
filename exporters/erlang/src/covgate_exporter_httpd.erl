%% inets httpd callback module: the exporter's only request handler.
%%   GET  /coverage        -> the covgate envelope (format coveralls)
%%   POST /coverage/reset  -> cover:reset() on every covered node, 204
-module(covgate_exporter_httpd).
-export([do/1]).

-include_lib("inets/include/httpd.hrl").

do(#mod{method = Method, request_uri = Uri, parsed_header = Headers}) ->
    Path = hd(string:split(Uri, "?")),
    Reply = try route(Method, Path, Headers)
            catch Class:Reason:Stack ->
                logger:error("covgate-exporter: ~s ~s failed: ~p:~p ~p", [Method, Path, Class, Reason, Stack]),
                error_reply(500, <<"internal">>, <<"coverage could not be read; see the node's log">>)
            end,
    {proceed, [{response, Reply}]}.

route("GET", "/coverage", Headers) -> coverage(Headers, true);
route("HEAD", "/coverage", Headers) -> coverage(Headers, false);
route("POST", "/coverage/reset", _) ->
    ok = covgate_exporter:reset(),
    {response, [{code, 204}, {content_length, "0"}], []};
route(_, "/coverage", _) -> method_not_allowed("GET");
route(_, "/coverage/reset", _) -> method_not_allowed("POST");
route(_, Path, _) ->
    error_reply(404, <<"not_found">>, iolist_to_binary(["no such path ", Path, "; coverage is served on /coverage"])).

coverage(Headers, WithBody) ->
    #{instance := Instance} = Envelope = covgate_exporter:envelope(),
    Json = iolist_to_binary(covgate_exporter_json:encode(Envelope)),
    {Body, Encoding} = case gzip_accepted(Headers) andalso byte_size(Json) > 1024 of
                           true -> {zlib:gzip(Json), [{content_encoding, "gzip"}]};
                           false -> {Json, []}
                       end,
    Head = [{code, 200}, {content_type, "application/vnd.covgate.v1+json"},
            {content_length, integer_to_list(byte_size(Body))},
            {"x-coverage-instance", binary_to_list(Instance)}, {cache_control, "no-store"}] ++ Encoding,
    {response, Head, case WithBody of true -> Body; false -> [] end}.

gzip_accepted(Headers) ->
    case proplists:get_value("accept-encoding", Headers) of
        undefined -> false;
        Value -> string:find(string:lowercase(Value), "gzip") =/= nomatch
    end.

method_not_allowed(Allow) ->
    {response, Head, Body} = error_reply(405, <<"bad_data">>, iolist_to_binary(["method not allowed; use ", Allow])),
    {response, [{allow, Allow} | Head], Body}.

error_reply(Code, Type, Message) ->
    Body = iolist_to_binary(covgate_exporter_json:encode(#{status => <<"error">>, errorType => Type, error => Message})),
    {response, [{code, Code}, {content_type, "application/json"},
                {content_length, integer_to_list(byte_size(Body))}], Body}.
