-module(covgate_exporter_app).
-behaviour(application).
-export([start/2, stop/1]).

start(_Type, _Args) -> covgate_exporter_sup:start_link().

stop(_State) -> ok.
