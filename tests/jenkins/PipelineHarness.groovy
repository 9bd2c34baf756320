// A small Jenkins declarative-pipeline runtime for tests: it executes a Jenkinsfile (and the shared
// library steps it loads) with Groovy, plays the declarative semantics we rely on (parameters,
// agents, when, stage order, skipping after a failure, post conditions, input, withCredentials,
// withEnv) and records every step call, so tests can assert what the pipeline would do in Jenkins.
//
// Why our own: JenkinsPipelineUnit's releases that run declarative pipelines are published only on
// the Jenkins repository; the last one on Maven Central (1.1, 2017) runs scripted pipelines only.
//
// Usage: java -cp "$(scripts/fetch-groovy.sh)/*" groovy.ui.GroovyMain tests/jenkins/PipelineHarness.groovy \
//            SCENARIOS.json RESULT.json
//
// SCENARIOS.json is a list of scenarios:
//   {name, jenkinsfile, workspace, params: {}, env: {}, libraries: {name: dir},
//    inputs: ["approve" | "approve by USER" | "abort", ...], sh: [{match: REGEX, exit: N, stdout: S}],
//    credentials: [ids that exist in Jenkins] (absent: every id exists),
//    groups: {USER: [group, ...]} (for an input's submitter list),
//    newerBuildApprovedFirst: true (a newer build of the job is approved while this one waits)}
// RESULT.json maps each scenario's name to what happened:
//   {result, error, parameters, stages: [{name, status, reason, agent}], steps: [...], violations: [...]}
//
// Input and milestone, as Jenkins plays them. An input with `submitter` (comma-separated user or
// group ids) takes an approval only from those: "approve by USER" from anyone else is refused and
// the input goes on waiting (the next answer). Milestones are numbered in the order a build reaches
// them (or by `ordinal`); a build that reaches a milestone a newer build already passed is aborted.
// With newerBuildApprovedFirst, a newer build of the same pipeline was approved while this one
// waited and went on past every milestone after its input: so this build, once approved, is
// aborted at the first milestone it reaches (Jenkins aborts it while it waits, as soon as the newer
// build passes that milestone; the outcome is the same). A pipeline with no milestone after its
// input would let the late build deploy over the newer one.
//
// Credentials. withCredentials binds each variable to a unique sentinel value (a token-like string
// for secret text, a made-up path for a secret file). A step whose arguments contain a sentinel got
// the secret through Groovy (interpolation or concatenation), which Jenkins would have written into
// the step's recorded arguments: that is a violation. So is a GString (a "..." string with ${})
// passed to sh inside withCredentials, whatever it interpolates: shell steps there must be
// single-quoted so only the shell expands variables.

import groovy.json.JsonOutput
import groovy.json.JsonSlurper
import org.codehaus.groovy.control.CompilerConfiguration
import org.yaml.snakeyaml.LoaderOptions
import org.yaml.snakeyaml.Yaml
import org.yaml.snakeyaml.constructor.SafeConstructor

import java.lang.annotation.ElementType
import java.lang.annotation.Retention
import java.lang.annotation.RetentionPolicy
import java.lang.annotation.Target

// --- outcomes of steps ---------------------------------------------------------------------------

/** A step failed the build (sh exit code, error(), a missing credential): Jenkins' AbortException. */
class StepFailed extends RuntimeException {
    StepFailed(String message) { super(message) }
}

/** The build was aborted (an input answered "abort"): Jenkins' FlowInterruptedException. */
class BuildAborted extends RuntimeException {
    BuildAborted(String message) { super(message) }
}

/** The pipeline uses the DSL in a way Jenkins would refuse, or the scenario misses an answer. */
class PipelineInvalid extends RuntimeException {
    PipelineInvalid(String message) { super(message) }
}

/** `@Library('name') _` in a Jenkinsfile: the harness loads libraries from the scenario instead. */
@Retention(RetentionPolicy.SOURCE)
@Target([ElementType.LOCAL_VARIABLE, ElementType.FIELD, ElementType.TYPE, ElementType.METHOD])
@interface Library {
    String[] value()
}

// --- the script base class: the steps a Jenkinsfile and library vars can call ----------------------

abstract class PipelineScript extends Script {
    PipelineRun getRun() { (PipelineRun) binding.getVariable('__run') }

    void pipeline(Closure body) { run.pipeline(body) }

    def sh(Object arg) { run.sh(arg instanceof Map ? (Map) arg : [script: arg]) }
    def echo(Object message) { run.record('echo', [message: message]); null }
    def error(Object message) { run.record('error', [message: message]); throw new StepFailed(String.valueOf(message)) }
    def unstable(Object message) { run.record('unstable', [message: message]); run.worsen('UNSTABLE'); null }
    def script(Closure body) { run.call(body) }
    def withCredentials(List bindings, Closure body) { run.withCredentials(bindings, body) }
    def withEnv(List vars, Closure body) { run.withEnv(vars, body) }
    def dir(String path, Closure body) { run.dir(path, body) }
    def timeout(Map args, Closure body) { run.record('timeout', args); run.call(body) }
    def input(Object args) { run.input(args instanceof Map ? (Map) args : [message: args]) }
    def milestone(Map args = [:]) { run.milestone(args) }
    def junit(Object args) { run.record('junit', args instanceof Map ? args : [testResults: args]); null }
    def archiveArtifacts(Object args) { run.record('archiveArtifacts', args instanceof Map ? args : [artifacts: args]); null }
    def checkout(Object scm) { run.record('checkout', [scm: String.valueOf(scm)]); [GIT_COMMIT: run.envValue('GIT_COMMIT')] }
    def readYaml(Map args) { run.readYaml(args) }
    def fileExists(String path) { run.record('fileExists', [file: path]); run.resolve(path).exists() }
    def library(Object args) { run.library(args instanceof Map ? (Map) args : [identifier: args]) }
    Map legacySCM(Map args) { [retriever: 'legacySCM'] + args }
    Map modernSCM(Map args) { [retriever: 'modernSCM'] + args }

    // credential bindings for withCredentials
    Map string(Map args) { [kind: 'string'] + args }
    Map file(Map args) { [kind: 'file'] + args }
    Map usernamePassword(Map args) { [kind: 'usernamePassword'] + args }
    Map sshUserPrivateKey(Map args) { [kind: 'sshUserPrivateKey'] + args }

    /** A shared-library global variable called as a step: `deployerPipeline(service: 'x')`. */
    def methodMissing(String name, Object args) {
        Script var = run.libraryVar(name)
        if (var == null) {
            throw new MissingMethodException(name, getClass(), args as Object[])
        }
        return var.invokeMethod('call', args)
    }

    /** A library variable as an object (`deployerCredentials.credentialId(x)`) or an env var. */
    def propertyMissing(String name) {
        Script var = run.libraryVar(name)
        if (var != null) {
            return var
        }
        String value = run.envValue(name)
        if (value != null) {
            return value
        }
        throw new MissingPropertyException(name, getClass())
    }
}

/** `env` in a pipeline: reads see every layer (withEnv, withCredentials, ...); writes are global. */
class EnvVars extends GroovyObjectSupport {
    private final PipelineRun run
    EnvVars(PipelineRun run) { this.run = run }
    Object getProperty(String name) { run.envValue(name) }
    void setProperty(String name, Object value) { run.setGlobalEnv(name, String.valueOf(value)) }
    Object getAt(String name) { run.envValue(name) }
}

/** `currentBuild`: result, description and displayName, recorded when set. */
class CurrentBuild extends GroovyObjectSupport {
    private final PipelineRun run
    CurrentBuild(PipelineRun run) { this.run = run }
    Object getProperty(String name) {
        switch (name) {
            case 'result': return run.result
            case 'currentResult': return run.result
            default: return run.buildFields[name]
        }
    }
    void setProperty(String name, Object value) {
        run.record('currentBuild', [(name): value])
        if (name == 'result') {
            run.worsen(String.valueOf(value))
        } else {
            run.buildFields[name] = value
        }
    }
}

// --- declarative sections: builders that collect a pipeline's shape --------------------------------

class Section {
    /** Runs a section body against a builder; calls the builder does not know go to the script. */
    static <T> T build(T builder, Closure body) {
        Closure c = (Closure) body.clone()
        c.resolveStrategy = Closure.DELEGATE_FIRST
        c.delegate = builder
        c.call()
        return builder
    }
}

class AgentSpec {
    String kind = 'none'
    String label
    String getNone() { 'none' }
    String getAny() { 'any' }
    void label(String value) { kind = 'label'; label = value }
    void node(Closure body) { Section.build(this, body); kind = 'label' }
    void docker(Object args) { kind = 'docker'; label = String.valueOf(args) }
    void dockerfile(Object args) { kind = 'dockerfile'; label = String.valueOf(args) }
    void customWorkspace(String path) {}
    void reuseNode(boolean value) {}
    Map toMap() { [kind: kind, label: label] }
}

/** What every level with agent/environment/post/when/steps shares. */
class BlockBuilder {
    AgentSpec agent
    Closure environment
    Map<String, Closure> post = [:]
    String getNone() { 'none' }
    String getAny() { 'any' }

    void agent(Object spec) {
        agent = new AgentSpec()
        if (spec instanceof Closure) {
            Section.build(agent, (Closure) spec)
        } else {
            agent.kind = String.valueOf(spec)
        }
    }

    void environment(Closure body) { environment = body }

    void post(Closure body) { Section.build(new PostBuilder(post), body) }
}

class PostBuilder {
    static final List<String> CONDITIONS = ['always', 'changed', 'fixed', 'regression', 'aborted', 'failure',
                                            'success', 'unstable', 'unsuccessful', 'cleanup']
    final Map<String, Closure> conditions
    PostBuilder(Map<String, Closure> conditions) { this.conditions = conditions }
    def methodMissing(String name, Object args) {
        if (!(name in CONDITIONS)) {
            throw new PipelineInvalid("post has no condition '$name' (the conditions are ${CONDITIONS.join(', ')})")
        }
        conditions[name] = (Closure) ((Object[]) args)[0]
    }
}

class EnvironmentBuilder {
    final Map<String, String> values = [:]
    private final PipelineRun run
    EnvironmentBuilder(PipelineRun run) { this.run = run }
    void propertyMissing(String name, Object value) {
        if (!(value instanceof CharSequence)) {
            throw new PipelineInvalid("environment variable $name: values must be strings, not ${value?.getClass()?.name}")
        }
        values[name] = value.toString()
    }
    def propertyMissing(String name) {
        if (values.containsKey(name)) {
            return values[name]
        }
        throw new MissingPropertyException(name, EnvironmentBuilder)  // the script resolves params, env
    }
    def credentials(String id) {
        throw new PipelineInvalid("environment { X = credentials('$id') } binds a credential for the whole " +
            'pipeline; bind credentials per stage with withCredentials')
    }
}

class ParametersBuilder {
    final List<Map> parameters = []
    void string(Map args) { parameters << ([type: 'string'] + args) }
    void text(Map args) { parameters << ([type: 'text'] + args) }
    void booleanParam(Map args) { parameters << ([type: 'boolean'] + args) }
    void choice(Map args) { parameters << ([type: 'choice'] + args) }
    void password(Map args) { parameters << ([type: 'password'] + args) }
}

class OptionsBuilder {
    final List<Map> options = []
    def methodMissing(String name, Object args) {
        Map option = [name: name, args: (args as List).collect { it instanceof Closure ? 'closure' : it }]
        options << option
        return option
    }
}

class WhenBuilder {
    final List<Map> conditions = []   // [describe: String, test: Closure<Boolean>]
    boolean beforeAgent = false
    boolean beforeInput = false
    private final PipelineRun run
    WhenBuilder(PipelineRun run) { this.run = run }

    void beforeAgent(boolean value) { beforeAgent = value }
    void beforeInput(boolean value) { beforeInput = value }
    void beforeOptions(boolean value) {}
    void expression(Closure test) { conditions << [describe: 'expression', test: { run.truthy(run.call(test)) }] }
    void environment(Map args) {
        conditions << [describe: "environment ${args.name} == ${args.value}",
                       test: { run.envValue(String.valueOf(args.name)) == String.valueOf(args.value) }]
    }
    void branch(String pattern) {
        conditions << [describe: "branch $pattern", test: { run.globMatches(pattern, run.envValue('BRANCH_NAME')) }]
    }
    void allOf(Closure body) {
        WhenBuilder inner = Section.build(new WhenBuilder(run), body)
        conditions << [describe: 'allOf', test: { inner.conditions.every { it.test.call() } }]
    }
    void anyOf(Closure body) {
        WhenBuilder inner = Section.build(new WhenBuilder(run), body)
        conditions << [describe: 'anyOf', test: { inner.conditions.any { it.test.call() } }]
    }
    void not(Closure body) {
        WhenBuilder inner = Section.build(new WhenBuilder(run), body)
        conditions << [describe: 'not', test: { !inner.conditions.every { it.test.call() } }]
    }
    boolean passes() { conditions.every { it.test.call() } }
}

class StageBuilder extends BlockBuilder {
    final String name
    WhenBuilder when
    Closure steps
    List<StageBuilder> stages
    private final PipelineRun run
    StageBuilder(String name, PipelineRun run) { this.name = name; this.run = run }

    void when(Closure body) { when = Section.build(new WhenBuilder(run), body) }
    void steps(Closure body) { steps = body }
    void stages(Closure body) { stages = Section.build(new StagesBuilder(run), body).stages }
    void options(Closure body) { Section.build(new OptionsBuilder(), body) }
    void input(Closure body) {
        throw new PipelineInvalid("stage '$name': the harness plays the input step, not the stage input directive")
    }
    void parallel(Closure body) {
        throw new PipelineInvalid("stage '$name': parallel stages are not played by the harness")
    }
}

class StagesBuilder {
    final List<StageBuilder> stages = []
    private final PipelineRun run
    StagesBuilder(PipelineRun run) { this.run = run }
    void stage(String name, Closure body) {
        if (stages.any { it.name == name }) {
            throw new PipelineInvalid("two stages are named '$name'")
        }
        StageBuilder stage = Section.build(new StageBuilder(name, run), body)
        if ((stage.steps == null) == (stage.stages == null)) {
            throw new PipelineInvalid("stage '$name' needs exactly one of steps or stages")
        }
        stages << stage
    }
}

class PipelineBuilder extends BlockBuilder {
    List<Map> parameters = []
    List<Map> options = []
    List<StageBuilder> stages
    private final PipelineRun run
    PipelineBuilder(PipelineRun run) { this.run = run }

    void parameters(Closure body) { parameters = Section.build(new ParametersBuilder(), body).parameters }
    void options(Closure body) { options = Section.build(new OptionsBuilder(), body).options }
    void triggers(Closure body) { Section.build(new OptionsBuilder(), body) }
    void stages(Closure body) { stages = Section.build(new StagesBuilder(run), body).stages }
}

// --- one run of a pipeline ---------------------------------------------------------------------------

class EnvLayer {
    Map<String, String> values
    boolean credentials
}

class PipelineRun {
    static final List<String> RESULTS = ['SUCCESS', 'UNSTABLE', 'FAILURE', 'ABORTED']

    final Map scenario
    final File workspace
    final Binding binding = new Binding()
    final List<Map> steps = []
    final List<Map> stages = []
    final List<Map> violations = []
    final Map buildFields = [:]
    String result = 'SUCCESS'
    String error
    List<Map> parameters = []

    private final Map<String, String> baseEnv
    private final Map<String, String> globalEnv = [:]
    private final List<EnvLayer> layers = []                   // params, environment{}, withEnv, withCredentials
    private final List<List<Map>> credentialScopes = []        // bindings in force, innermost last
    private final Map<String, String> secrets = [:]            // sentinel value -> "credential id (variable)"
    private final Map<String, Script> vars = [:]
    private final List<String> inputs
    private final List<String> dirs = []
    private String stage
    private boolean pipelineSeen = false
    private final GroovyClassLoader loader
    private final CompilerConfiguration compiler
    private int sentinelCounter = 0

    PipelineRun(Map scenario, GroovyClassLoader loader) {
        this.scenario = scenario
        this.loader = loader
        this.workspace = new File((String) scenario.workspace).canonicalFile
        this.baseEnv = new LinkedHashMap<String, String>((Map) (scenario.env ?: [:]))
        this.baseEnv.putIfAbsent('WORKSPACE', workspace.path)
        this.inputs = new ArrayList<String>((List) (scenario.inputs ?: []))
        this.compiler = new CompilerConfiguration()
        this.compiler.scriptBaseClass = PipelineScript.name
        binding.setVariable('__run', this)
        binding.setVariable('env', new EnvVars(this))
        binding.setVariable('currentBuild', new CurrentBuild(this))
        binding.setVariable('scm', 'scm')
        binding.setVariable('params', Collections.unmodifiableMap([:]))
    }

    // ---- running ----

    Map execute() {
        File jenkinsfile = new File((String) scenario.jenkinsfile)
        try {
            // Libraries configured in Jenkins (@Library('name') _) are there before the Jenkinsfile runs.
            ((Map) (scenario.libraries ?: [:])).each { name, dir -> loadLibrary((String) name, new File((String) dir)) }
            // A compile error fails this build only, as in Jenkins.
            new GroovyShell(loader, binding, compiler).parse(jenkinsfile.getText('UTF-8'), 'Jenkinsfile').run()
            if (!pipelineSeen) {
                throw new PipelineInvalid('the Jenkinsfile never called pipeline { }')
            }
        } catch (Exception e) {
            fail(e)
        }
        return (Map) plain([result: result, error: error, parameters: parameters, stages: stages, steps: steps,
                            violations: violations, build: buildFields])
    }

    void pipeline(Closure body) {
        if (pipelineSeen) {
            throw new PipelineInvalid('pipeline { } ran twice')
        }
        pipelineSeen = true
        PipelineBuilder p = Section.build(new PipelineBuilder(this), body)
        if (p.agent == null) {
            throw new PipelineInvalid('pipeline { } needs an agent section')
        }
        if (!p.stages) {
            throw new PipelineInvalid('pipeline { } needs a stages section with at least one stage')
        }
        parameters = p.parameters
        binding.setVariable('params', Collections.unmodifiableMap(resolveParams(p.parameters)))
        // Jenkins exposes build parameters to steps as environment variables too.
        pushLayer(((Map) binding.getVariable('params')).collectEntries { k, v -> [(k): String.valueOf(v)] })
        pushLayer(evaluateEnvironment(p.environment))
        try {
            runStages(p.stages, p.agent)
        } finally {
            stage = null
            runPost(p.post)
        }
    }

    private Map resolveParams(List<Map> declared) {
        Map given = (Map) (scenario.params ?: [:])
        Map values = [:]
        for (Map param in declared) {
            String name = param.name
            Object value = given.containsKey(name) ? given[name] : defaultOf(param)
            if (param.type == 'choice' && !(value in param.choices)) {
                throw new PipelineInvalid("parameter $name: '$value' is not one of ${param.choices}")
            }
            if (param.trim && value instanceof String) {
                value = value.trim()
            }
            values[name] = value
        }
        Set unknown = given.keySet() - values.keySet()
        if (unknown) {
            throw new PipelineInvalid("the scenario passes parameters the pipeline does not declare: $unknown")
        }
        return values
    }

    private static Object defaultOf(Map param) {
        if (param.type == 'choice') {
            return ((List) param.choices)[0]
        }
        return param.containsKey('defaultValue') ? param.defaultValue : (param.type == 'boolean' ? false : '')
    }

    private void runStages(List<StageBuilder> list, AgentSpec agent) {
        for (StageBuilder s in list) {
            runStage(s, agent)
        }
    }

    private void runStage(StageBuilder s, AgentSpec parentAgent) {
        Map entry = [name: s.name, status: null, reason: null, agent: (s.agent ?: parentAgent)?.toMap()]
        stages << entry
        if (result in ['FAILURE', 'ABORTED']) {
            entry.status = 'skipped'
            entry.reason = 'earlier failure'
            return
        }
        String previous = stage
        stage = s.name
        try {
            if (s.when != null && !s.when.passes()) {
                entry.status = 'skipped'
                entry.reason = 'when'
                return
            }
            if (s.agent != null && s.agent.kind != 'none') {
                record('checkout', [scm: 'scm', implicit: true])   // declarative's checkout on a stage agent
            }
            String before = result
            pushLayer(evaluateEnvironment(s.environment))
            try {
                if (s.steps != null) {
                    call(s.steps)
                } else {
                    runStages(s.stages, s.agent ?: parentAgent)
                }
                entry.status = result in ['FAILURE', 'ABORTED'] ? 'failed' : (result == before ? 'success' : 'unstable')
            } catch (Exception e) {
                fail(e)
                entry.status = result == 'ABORTED' ? 'aborted' : 'failed'
                entry.error = error
            } finally {
                runPost(s.post)
                popLayer()
            }
        } finally {
            stage = previous
        }
    }

    private void runPost(Map<String, Closure> post) {
        for (String condition in PostBuilder.CONDITIONS) {
            Closure body = post[condition]
            if (body != null && postApplies(condition)) {
                try {
                    call(body)
                } catch (Exception e) {
                    fail(e)
                }
            }
        }
    }

    private boolean postApplies(String condition) {
        switch (condition) {
            case 'always': case 'cleanup': case 'changed': return true
            case 'success': return result == 'SUCCESS'
            case 'failure': return result == 'FAILURE'
            case 'unstable': return result == 'UNSTABLE'
            case 'aborted': return result == 'ABORTED'
            case 'unsuccessful': return result != 'SUCCESS'
            default: return false   // fixed, regression: no previous build here
        }
    }

    void fail(Exception e) {
        if (e instanceof BuildAborted) {
            worsen('ABORTED')
        } else {
            worsen('FAILURE')
        }
        if (error == null) {
            error = e instanceof StepFailed || e instanceof BuildAborted || e instanceof PipelineInvalid ?
                e.message : e.getClass().name + ': ' + e.message + '\n' + scriptFrames(e)
        }
    }

    private static String scriptFrames(Throwable e) {
        e.stackTrace.findAll { it.fileName && (it.fileName.endsWith('.groovy') || it.fileName == 'Jenkinsfile') }
            .take(8).collect { "  at ${it.fileName}:${it.lineNumber} (${it.methodName})" }.join('\n')
    }

    void worsen(String to) {
        if (RESULTS.indexOf(to) > RESULTS.indexOf(result)) {
            result = to
        }
    }

    /** Runs a closure that came from the pipeline: steps resolve on the script that wrote it. */
    Object call(Closure body) {
        Closure c = body.rehydrate(null, body.thisObject, body.thisObject)
        c.resolveStrategy = Closure.OWNER_ONLY
        return c.call()
    }

    boolean truthy(Object value) { value as boolean }

    boolean globMatches(String pattern, String value) {
        value != null && value.matches(pattern.replace('.', '\\.').replace('*', '.*').replace('?', '.'))
    }

    // ---- environment ----

    private Map<String, String> evaluateEnvironment(Closure body) {
        if (body == null) {
            return [:]
        }
        return Section.build(new EnvironmentBuilder(this), body).values
    }

    private void pushLayer(Map<String, String> values, boolean credentials = false) {
        layers << new EnvLayer(values: values, credentials: credentials)
    }

    private void popLayer() { layers.remove(layers.size() - 1) }

    String envValue(String name) {
        if (name == 'PATH') {
            return path()
        }
        for (int i = layers.size() - 1; i >= 0; i--) {
            if (layers[i].values.containsKey(name)) {
                return layers[i].values[name]
            }
        }
        return globalEnv.containsKey(name) ? globalEnv[name] : baseEnv[name]
    }

    void setGlobalEnv(String name, String value) { globalEnv[name] = value }

    /** PATH with every `PATH+NAME=dir` of withEnv in front, innermost first, as Jenkins builds it. */
    private String path() {
        List<String> parts = []
        for (int i = layers.size() - 1; i >= 0; i--) {
            layers[i].values.each { k, v -> if (k.startsWith('PATH+')) parts << v }
        }
        String base = globalEnv.PATH ?: baseEnv.PATH
        if (base) {
            parts << base
        }
        return parts.join(':')
    }

    /**
     * What the pipeline itself put into the environment: parameters, environment { }, withEnv (with
     * Jenkins' `PATH+NAME` keys as written), env.X = ...; not credentials, not the agent's own.
     */
    Map<String, String> pipelineEnv() {
        Map<String, String> out = new LinkedHashMap<>(globalEnv)
        for (EnvLayer layer in layers) {
            if (!layer.credentials) {
                out.putAll(layer.values)
            }
        }
        return out
    }

    Object withEnv(List vars, Closure body) {
        Map<String, String> layer = [:]
        for (Object item in vars) {
            String text = String.valueOf(item)
            int eq = text.indexOf('=')
            if (eq <= 0) {
                throw new PipelineInvalid("withEnv entry '$text' is not NAME=value")
            }
            layer[text.substring(0, eq)] = text.substring(eq + 1)
        }
        record('withEnv', [vars: vars.collect { String.valueOf(it) }])
        pushLayer(layer)
        try {
            return call(body)
        } finally {
            popLayer()
        }
    }

    Object withCredentials(List bindings, Closure body) {
        Map<String, String> layer = [:]
        List<Map> bound = []
        for (Object item in bindings) {
            if (!(item instanceof Map) || !((Map) item).kind) {
                throw new PipelineInvalid("withCredentials takes bindings such as string(...) or file(...), not $item")
            }
            Map b = (Map) item
            if (!b.credentialsId || !b.variable) {
                throw new PipelineInvalid("withCredentials: ${b.kind}(...) needs credentialsId and variable, got $b")
            }
            List known = (List) scenario.credentials
            if (known != null && !(b.credentialsId in known)) {
                record('withCredentials', [bindings: bindings.collect { describe((Map) it) }])
                throw new StepFailed("Could not find credentials entry with ID '${b.credentialsId}'")
            }
            if (layer.containsKey(b.variable)) {
                throw new PipelineInvalid("withCredentials binds ${b.variable} twice")
            }
            String value = sentinel((Map) b)
            secrets[value] = "${b.credentialsId} (\$${b.variable})"
            layer[(String) b.variable] = value
            bound << describe(b)
        }
        record('withCredentials', [bindings: bound])
        pushLayer(layer, true)
        credentialScopes << bound
        try {
            return call(body)
        } finally {
            credentialScopes.remove(credentialScopes.size() - 1)
            popLayer()
        }
    }

    private static Map describe(Map b) { [kind: b.kind, credentialsId: b.credentialsId, variable: b.variable] }

    private String sentinel(Map b) {
        String unique = Integer.toHexString(++sentinelCounter) + UUID.randomUUID().toString().replace('-', '').take(12)
        return b.kind == 'file' ? "/jenkins/secret-files/${unique}/${b.credentialsId}" : "jenkins-secret-${b.credentialsId}-${unique}"
    }

    List<Map> boundCredentials() { credentialScopes.flatten() as List<Map> }

    // ---- steps ----

    Map record(String step, Map args) {
        Map entry = [step: step, stage: stage] + args.collectEntries { k, v -> [(k): plain(v)] }
        steps << entry
        checkForSecrets(step, args)
        return entry
    }

    /** A secret's value in a step's arguments came through Groovy: Jenkins records it as the step's argument. */
    private void checkForSecrets(String step, Map args) {
        List<String> texts = []
        collectStrings(args, texts)
        secrets.each { value, what ->
            if (texts.any { it.contains(value) }) {
                violations << [stage: stage, step: step, kind: 'secret-in-arguments',
                               message: "the $step step's arguments contain the value of credential $what: Groovy " +
                                        'interpolated or concatenated it; use a single-quoted shell string and let the shell expand the variable']
            }
        }
    }

    private static void collectStrings(Object v, List<String> out) {
        if (v instanceof Map) {
            v.each { k, x -> collectStrings(k, out); collectStrings(x, out) }
        } else if (v instanceof Collection || v instanceof Object[]) {
            v.each { collectStrings(it, out) }
        } else if (v != null && !(v instanceof Closure)) {
            out << String.valueOf(v)
        }
    }

    static Object plain(Object v) {
        if (v instanceof CharSequence) return v.toString()
        if (v instanceof Map) return v.collectEntries { k, x -> [(String.valueOf(k)): plain(x)] }
        if (v instanceof Collection) return v.collect { plain(it) }
        if (v instanceof Closure) return '<closure>'
        if (v == null || v instanceof Number || v instanceof Boolean) return v
        return String.valueOf(v)
    }

    Object sh(Map args) {
        Object script = args.script
        if (script == null) {
            throw new PipelineInvalid('sh needs a script')
        }
        boolean gstring = script instanceof GString
        Map entry = record('sh', [script: script.toString(), label: args.label, gstring: gstring,
                                  returnStatus: args.returnStatus ?: false, returnStdout: args.returnStdout ?: false,
                                  dir: dirs ? dirs.join('/') : null, env: pipelineEnv(),
                                  credentials: boundCredentials()])
        if (gstring && !credentialScopes.isEmpty()) {
            violations << [stage: stage, step: 'sh', kind: 'gstring-in-withCredentials',
                           message: 'a sh step inside withCredentials takes a Groovy GString ("..." with ${}): ' +
                                    'Groovy, not the shell, builds the command; use a single-quoted string']
        }
        if (gstring) {
            List leaked = ((GString) script).values.findAll { v -> secrets.keySet().any { String.valueOf(v).contains(it) } }
            if (leaked) {
                violations << [stage: stage, step: 'sh', kind: 'gstring-interpolates-credential',
                               message: 'a sh step interpolates a bound credential with a Groovy GString']
            }
        }
        Map outcome = ((List<Map>) (scenario.sh ?: [])).find { script.toString() =~ (String) it.match } ?: [:]
        int exit = (outcome.exit ?: 0) as int
        entry.exit = exit
        if (args.returnStatus) {
            return exit
        }
        if (exit != 0) {
            throw new StepFailed("script returned exit code $exit")
        }
        return args.returnStdout ? (outcome.stdout ?: '') : null
    }

    Object input(Map args) {
        record('input', args)
        while (true) {
            if (inputs.isEmpty()) {
                throw new PipelineInvalid("input '${args.message}' waits for an answer the scenario does not give")
            }
            String answer = inputs.remove(0)
            if (answer == 'abort') {
                throw new BuildAborted("input '${args.message}' was aborted")
            }
            def by = answer =~ /^approve by (\S+)$/
            if (answer != 'approve' && !by.matches()) {
                throw new PipelineInvalid("input answers are approve, approve by USER or abort, not $answer")
            }
            String user = by.matches() ? by.group(1) : null
            if (user == null || maySubmit(user, args.submitter)) {
                record('inputApproved', [message: args.message, by: user])
                newerBuildAhead = scenario.newerBuildApprovedFirst == true
                return null
            }
            // Jenkins answers such a user "You need to be ... to submit this" and keeps waiting.
            record('inputRefused', [message: args.message, by: user, submitter: args.submitter])
        }
    }

    private boolean maySubmit(String user, Object submitter) {
        if (submitter == null) {
            return true  // anyone who may build the job
        }
        List<String> allowed = String.valueOf(submitter).split(',')*.trim()
        List<String> groups = (List<String>) (((Map) (scenario.groups ?: [:]))[user] ?: [])
        return user in allowed || groups.any { it in allowed }
    }

    private int milestonesReached = 0
    private boolean newerBuildAhead = false   // a newer build has passed every milestone from here on

    Object milestone(Map args) {
        int ordinal = args.ordinal != null ? (args.ordinal as int) : milestonesReached + 1
        milestonesReached = ordinal
        record('milestone', args + [ordinal: ordinal])
        if (newerBuildAhead) {
            throw new BuildAborted("superseded: a newer build already passed milestone $ordinal")
        }
        return null
    }

    Object dir(String path, Closure body) {
        record('dir', [path: path])
        dirs << path
        try {
            return call(body)
        } finally {
            dirs.remove(dirs.size() - 1)
        }
    }

    File resolve(String path) {
        File f = new File(path)
        if (f.absolute) {
            return f
        }
        File base = dirs ? new File(workspace, dirs.join('/')) : workspace
        return new File(base, path)
    }

    Object readYaml(Map args) {
        record('readYaml', [file: args.file, text: args.text != null ? '<text>' : null])
        String text = args.text != null ? String.valueOf(args.text) : resolve(String.valueOf(args.file)).getText('UTF-8')
        return new Yaml(new SafeConstructor(new LoaderOptions())).load(text)
    }

    // ---- libraries ----

    Object library(Map args) {
        record('library', [identifier: args.identifier, retriever: args.retriever])
        String name = String.valueOf(args.identifier).split('@')[0]
        Map retriever = (Map) args.retriever
        File root
        if (retriever == null) {
            Map libraries = (Map) (scenario.libraries ?: [:])
            if (!libraries.containsKey(name)) {
                throw new StepFailed("No library named $name found")
            }
            root = new File(String.valueOf(libraries[name]))
        } else if (retriever.retriever == 'legacySCM' && retriever.scm == 'scm') {
            root = new File(workspace, String.valueOf(retriever.libraryPath ?: ''))  // this job's own checkout
        } else {
            throw new PipelineInvalid("the harness loads libraries from the job's own checkout (legacySCM(scm: scm)) " +
                                      "or the scenario's libraries, not $retriever")
        }
        loadLibrary(name, root)
        return null
    }

    private void loadLibrary(String name, File root) {
        File varsDir = new File(root, 'vars')
        if (!varsDir.isDirectory()) {
            throw new StepFailed("library $name: no vars/ folder in $root")
        }
        varsDir.listFiles().findAll { it.name.endsWith('.groovy') }.sort { it.name }.each { File f ->
            String varName = f.name[0..-8]
            Script var = new GroovyShell(loader, binding, compiler).parse(f.getText('UTF-8'), f.name)
            vars[varName] = var
        }
    }

    Script libraryVar(String name) { vars[name] }
}

// --- main: run every scenario, write what happened ----------------------------------------------------

if (args.length != 2) {
    System.err.println('usage: PipelineHarness.groovy SCENARIOS.json RESULT.json')
    System.exit(2)
}
List scenarios = (List) new JsonSlurper().parse(new File(args[0]))
Map results = [:]
GroovyClassLoader loader = new GroovyClassLoader(PipelineScript.classLoader)
for (Map scenario in scenarios) {
    results[scenario.name] = new PipelineRun(scenario, loader).execute()
}
new File(args[1]).setText(JsonOutput.prettyPrint(JsonOutput.toJson(results)), 'UTF-8')
