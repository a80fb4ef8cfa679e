-module(covgate_exporter_sup).
-behaviour(supervisor).
-export([start_link/0, init/1]).

start_link() -> supervisor:start_link({local, ?MODULE}, ?MODULE, []).

init([]) ->
    %% One worker: it owns cover, the HTTP listener and the registration lease.
    %% A crash is not retried in a loop: cover-compiling twice buys nothing.
    Child = #{id => covgate_exporter, start => {covgate_exporter, start_link, []},
              restart => permanent, shutdown => 10000, type => worker},
    {ok, {#{strategy => one_for_one, intensity => 1, period => 60}, [Child]}}.
