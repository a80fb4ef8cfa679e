# Lets Elixir projects use the exporter as a mix dependency:
#   {:covgate_exporter, path: "../covgate/exporters/erlang", only: [:dev, :test]}
#   {:covgate_exporter, git: "https://…/covgate.git", sparse: "exporters/erlang"}
# It is an Erlang application (src/*.erl); mix compiles it with erlc.
defmodule CovgateExporter.MixProject do
  use Mix.Project

  def project do
    [
      app: :covgate_exporter,
      version: "0.1.0",
      language: :erlang,
      erlc_options: [:debug_info],
      deps: []
    ]
  end

  # Keep in step with src/covgate_exporter.app.src (rebar3 reads that one).
  def application do
    [
      mod: {:covgate_exporter_app, []},
      registered: [:covgate_exporter, :covgate_exporter_sup],
      extra_applications: [:tools, :inets],
      env: [
        apps: [],
        modules: [],
        nodes: [],
        listen: ~c"127.0.0.1:0",
        source_root: :undefined,
        gateway: :undefined,
        job: :undefined,
        service: :undefined,
        labels: [],
        ttl_seconds: 60,
        token: :undefined,
        advertise_url: :undefined
      ]
    ]
  end
end
