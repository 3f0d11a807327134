"""SendGrid, the one outside system every operation and the scanner call. Where SendGrid is called:

client    one host's HTTP client (`SendGridClient.call`: urllib3, retries, backoff, the key's refresh)
subusers  the subuser directory: each subuser's region, from SendGrid's subuser list, remembered per container
router    the regional router (`RegionalSendGrid`): a call goes to the host of the account's region
wiring    the container's clients, directory and router, built once per container (the composition root's parts)
"""
