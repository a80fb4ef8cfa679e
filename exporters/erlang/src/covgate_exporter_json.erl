%% A small JSON encoder. Written here because OTP's own `json` module only
%% arrived in OTP 27 and the exporter must run on older OTP releases (25 in
%% Debian bookworm) with no dependency beyond OTP itself. It encodes only
%% the terms the exporter builds: maps with binary/atom keys, lists, binaries
%% (UTF-8 strings), integers, true/false/null.
-module(covgate_exporter_json).
-export([encode/1]).

-spec encode(term()) -> iodata().
encode(null) -> <<"null">>;
encode(true) -> <<"true">>;
encode(false) -> <<"false">>;
encode(N) when is_integer(N) -> integer_to_binary(N);
encode(A) when is_atom(A) -> string(atom_to_binary(A, utf8));
encode(B) when is_binary(B) -> string(B);
encode(M) when is_map(M) ->
    Pairs = [[string(K), $:, encode(V)] || {K, V} <- lists:keysort(1, [{key(K), V} || {K, V} <- maps:to_list(M)])],
    [${, lists:join($,, Pairs), $}];
encode(L) when is_list(L) ->
    [$[, lists:join($,, [encode(X) || X <- L]), $]].

key(K) when is_binary(K) -> K;
key(K) when is_atom(K) -> atom_to_binary(K, utf8);
key(K) when is_integer(K) -> integer_to_binary(K);
key(K) when is_list(K) -> unicode:characters_to_binary(K).

string(B) -> [$", escape(B, <<>>), $"].

escape(<<>>, Acc) -> Acc;
escape(<<$", R/binary>>, Acc) -> escape(R, <<Acc/binary, "\\\"">>);
escape(<<$\\, R/binary>>, Acc) -> escape(R, <<Acc/binary, "\\\\">>);
escape(<<$\n, R/binary>>, Acc) -> escape(R, <<Acc/binary, "\\n">>);
escape(<<$\r, R/binary>>, Acc) -> escape(R, <<Acc/binary, "\\r">>);
escape(<<$\t, R/binary>>, Acc) -> escape(R, <<Acc/binary, "\\t">>);
escape(<<C, R/binary>>, Acc) when C < 16#20 ->
    Hex = list_to_binary(io_lib:format("\\u~4.16.0b", [C])),
    escape(R, <<Acc/binary, Hex/binary>>);
escape(<<C, R/binary>>, Acc) -> escape(R, <<Acc/binary, C>>).
