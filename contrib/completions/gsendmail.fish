# fish completion for gsendmail(1). Account names come from
# "gsendmail accounts".

function __gsendmail_accounts
    set -l cfg
    set -l tokens (commandline -opc)
    for i in (seq (count $tokens))
        if test "$tokens[$i]" = -C; and test $i -lt (count $tokens)
            set cfg -C $tokens[(math $i + 1)]
        end
    end
    gsendmail accounts $cfg 2>/dev/null
end

set -l cmds setup auth queue doctor probe password accounts version help
complete -c gsendmail -f
complete -c gsendmail -n "not __fish_seen_subcommand_from $cmds" -a setup -d 'write a configuration with a wizard'
complete -c gsendmail -n "not __fish_seen_subcommand_from $cmds" -a auth -d 'OAuth2 login, import, status, logout'
complete -c gsendmail -n "not __fish_seen_subcommand_from $cmds" -a queue -d 'list, flush or drop queued messages'
complete -c gsendmail -n "not __fish_seen_subcommand_from $cmds" -a doctor -d 'check an account end to end'
complete -c gsendmail -n "not __fish_seen_subcommand_from $cmds" -a probe -d 'probe a server'
complete -c gsendmail -n "not __fish_seen_subcommand_from $cmds" -a password -d 'keyring password'
complete -c gsendmail -n "not __fish_seen_subcommand_from $cmds" -a accounts -d 'list accounts'
complete -c gsendmail -n "not __fish_seen_subcommand_from $cmds" -a version -d 'print the version'
complete -c gsendmail -n "not __fish_seen_subcommand_from $cmds" -a help -d 'usage summary'

# sendmail options
complete -c gsendmail -n "not __fish_seen_subcommand_from $cmds" -s t -d 'recipients from the header'
complete -c gsendmail -n "not __fish_seen_subcommand_from $cmds" -s i -d 'a lone dot does not end the message'
complete -c gsendmail -n "not __fish_seen_subcommand_from $cmds" -s v -d 'verbose SMTP transcript'
complete -c gsendmail -n "not __fish_seen_subcommand_from $cmds" -s f -x -d 'envelope sender'
complete -c gsendmail -n "not __fish_seen_subcommand_from $cmds" -s r -x -d 'envelope sender'
complete -c gsendmail -n "not __fish_seen_subcommand_from $cmds" -s F -x -d 'full name'
complete -c gsendmail -n "not __fish_seen_subcommand_from $cmds" -s a -l account -x -a '(__gsendmail_accounts)' -d account
complete -c gsendmail -s C -r -F -d 'configuration file'
complete -c gsendmail -n "not __fish_seen_subcommand_from $cmds" -s N -x -a 'never success failure delay' -d 'DSN notify'
complete -c gsendmail -n "not __fish_seen_subcommand_from $cmds" -s R -x -a 'full hdrs' -d 'DSN return'
complete -c gsendmail -n "not __fish_seen_subcommand_from $cmds" -s V -x -d 'envelope id'
complete -c gsendmail -n "not __fish_seen_subcommand_from $cmds" -s B -x -a '7BIT 8BITMIME' -d 'body type'
complete -c gsendmail -n "not __fish_seen_subcommand_from $cmds" -s b -x -a 'm s p i' -d 'mode'
complete -c gsendmail -n "not __fish_seen_subcommand_from $cmds" -s q -d 'flush the queue'
complete -c gsendmail -n "not __fish_seen_subcommand_from $cmds" -l pretend -d 'show what would be sent'
complete -c gsendmail -n "not __fish_seen_subcommand_from $cmds" -l serverinfo -d 'show what the server offers'
complete -c gsendmail -n "not __fish_seen_subcommand_from $cmds" -l version -d 'print the version'
complete -c gsendmail -n "not __fish_seen_subcommand_from $cmds" -l help -d 'print usage'

# subcommands
complete -c gsendmail -n "__fish_seen_subcommand_from auth; and not __fish_seen_subcommand_from login import status logout" -a 'login import status logout'
complete -c gsendmail -n "__fish_seen_subcommand_from login import status logout" -a '(__gsendmail_accounts)'
complete -c gsendmail -n "__fish_seen_subcommand_from login" -l no-browser -d 'paste the redirect address'
complete -c gsendmail -n "__fish_seen_subcommand_from login" -l device -d 'device code flow'
complete -c gsendmail -n "__fish_seen_subcommand_from queue; and not __fish_seen_subcommand_from list flush drop" -a 'list flush drop'
complete -c gsendmail -n "__fish_seen_subcommand_from flush" -a '(__gsendmail_accounts)'
complete -c gsendmail -n "__fish_seen_subcommand_from password; and not __fish_seen_subcommand_from set delete" -a 'set delete'
complete -c gsendmail -n "__fish_seen_subcommand_from set delete" -a '(__gsendmail_accounts)'
complete -c gsendmail -n "__fish_seen_subcommand_from doctor" -a '(__gsendmail_accounts)'
complete -c gsendmail -n "__fish_seen_subcommand_from doctor" -l json -d 'print JSON'
complete -c gsendmail -n "__fish_seen_subcommand_from doctor" -l rcpt -x -d 'check a recipient'
complete -c gsendmail -n "__fish_seen_subcommand_from probe" -l starttls -d 'use STARTTLS'
complete -c gsendmail -n "__fish_seen_subcommand_from probe" -l tls -d 'use implicit TLS'
complete -c gsendmail -n "__fish_seen_subcommand_from probe" -l from -x -d 'MAIL FROM'
complete -c gsendmail -n "__fish_seen_subcommand_from probe" -l to -x -d 'RCPT TO'
complete -c gsendmail -n "__fish_seen_subcommand_from probe" -l json -d 'print JSON'

# setup
set -l s "__fish_seen_subcommand_from setup"
complete -c gsendmail -n $s -l address -x -d 'email address'
complete -c gsendmail -n $s -l account -x -d 'account name'
complete -c gsendmail -n $s -l provider -x -a 'gmail microsoft365 outlook fastmail icloud yahoo' -d preset
complete -c gsendmail -n $s -l host -x -d server
complete -c gsendmail -n $s -l port -x -a '465 587' -d port
complete -c gsendmail -n $s -l tls -x -a 'tls starttls' -d 'TLS mode'
complete -c gsendmail -n $s -l tls-trust-file -r -F -d 'CA bundle'
complete -c gsendmail -n $s -l auth -x -a 'password oauth2 none' -d 'login method'
complete -c gsendmail -n $s -l user -x -d 'login name'
complete -c gsendmail -n $s -l password-store -x -a 'keyring file command' -d 'where the password goes'
complete -c gsendmail -n $s -l password-file -r -F -d 'password file'
complete -c gsendmail -n $s -l password-command -x -d 'command printing the password'
complete -c gsendmail -n $s -l oauth-provider -x -a 'google microsoft generic' -d 'OAuth2 provider'
complete -c gsendmail -n $s -l oauth-tenant -x -d 'Microsoft tenant'
complete -c gsendmail -n $s -l oauth-client-id -x -d 'client ID'
complete -c gsendmail -n $s -l no-client-secret -d 'no client secret'
complete -c gsendmail -n $s -l oauth-auth-url -x -d 'authorization endpoint'
complete -c gsendmail -n $s -l oauth-token-url -x -d 'token endpoint'
complete -c gsendmail -n $s -l oauth-device-url -x -d 'device endpoint'
complete -c gsendmail -n $s -l oauth-scopes -x -d scopes
complete -c gsendmail -n $s -l login -x -a 'browser paste device skip' -d 'login flow'
complete -c gsendmail -n $s -l yes -d 'ask nothing'
complete -c gsendmail -n $s -l dry-run -d 'print the configuration only'
complete -c gsendmail -n $s -l no-doctor -d 'do not run doctor'
complete -c gsendmail -n $s -l from-msmtprc -r -F -d 'import an msmtp configuration'
complete -c gsendmail -n $s -l from-git -d 'import git send-email settings'
complete -c gsendmail -n $s -l from-thunderbird -r -a '(__fish_complete_directories)' -d 'import a Thunderbird profile'
complete -c gsendmail -n $s -l with-token -d 'also import the saved password or OAuth2 token'
complete -c gsendmail -n $s -l force -d 'replace accounts of the same name'
complete -c gsendmail -n $s -l config -r -F -d 'configuration file'
